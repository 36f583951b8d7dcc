"""The Import tab's refused-records block reads only what it expects from the ``rejected_records`` XCom."""

from __future__ import annotations

from airflow_import_status.plugins.rejected import summary_of


def test_a_summary_is_checked_field_by_field():
    value = {
        "path": "/data/refused.csv",
        "count": 3,
        "by_source": {"upload": 1, "vendor": 2, "odd": "x"},
        "truncated": True,
        "top_reasons": [{"reason": "bad", "count": 3}, {"reason": 7, "count": 1}, "junk"]
        + [{"reason": "r", "count": 1}] * 9,
        "records": [{"email": "someone@example.com"}],
    }
    shown = summary_of(value)
    assert shown == {
        "path": "/data/refused.csv",
        "count": 3,
        "by_source": {"upload": 1, "vendor": 2},
        "truncated": True,
        "top_reasons": [{"reason": "bad", "count": 3}, {"reason": "r", "count": 1}, {"reason": "r", "count": 1}],
        "error": None,
    }, "only the five first reasons, well formed; nothing but the known fields"


def test_anything_else_is_not_a_summary():
    assert summary_of(None) is None
    assert summary_of({"path": 3, "count": 1}) is None
    assert summary_of({"path": "/x", "count": -1}) is None
