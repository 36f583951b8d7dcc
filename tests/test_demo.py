"""``make demo``'s closing table and its log redirection (the demo itself runs in ``test_example_dags``' way)."""

from __future__ import annotations

import os

from airflow_import_status.demo import DemoRow, format_table, main, output_to

RESULT = {"vendor": "which50", "job_id": "1004", "state": "succeeded", "total": 28, "imported": 28, "invalid": 2}


def test_one_aligned_line_per_example_with_rejected_and_deferral():
    rows = [
        DemoRow("example_which50.py", "success", 3.14, {**RESULT, "failed": 1}, deferred=True),
        DemoRow("example_luminate.py", "failed", 12.0, None, deferred=False),
    ]
    header, rule, which50, luminate = format_table(rows).splitlines()
    assert header.split() == ["vendor", "job", "state", "total", "imported", "rejected", "seconds", "deferred"]
    assert which50.split() == ["which50", "1004", "succeeded", "28", "28", "3", "3.1", "yes"]
    assert luminate.split() == ["luminate", "-", "-", "(run", "failed)", "-", "-", "-", "12.0", "no"]
    assert header.index("deferred") == which50.index("yes") == luminate.index("no"), "columns are not aligned"
    assert header.index("seconds") + len("seconds") == which50.index("3.1") + 3, "numbers are not right-aligned"
    assert set(rule) == {"-", " "}


def test_everything_written_goes_to_the_log_and_the_terminal_stream_to_the_terminal(tmp_path, capfd):
    log = tmp_path / "demo" / "demo.log"
    with output_to(log) as terminal:
        os.write(1, b"airflow says hello\n")
        os.write(2, b"a handler writing to fd 2\n")
        print("the table", file=terminal)
    os.write(1, b"after\n")
    captured = capfd.readouterr()
    assert "the table" in captured.out and "after" in captured.out
    assert "airflow says hello" not in captured.out + captured.err
    assert log.read_text().splitlines() == ["airflow says hello", "a handler writing to fd 2"]


def test_rejected_is_null_where_the_vendor_reports_no_refused_count():
    mailup = {"vendor": "mailup", "job_id": "7", "state": "succeeded", "total": 30, "imported": 28}
    cells = DemoRow("example_mailup.py", "success", 1.0, {**mailup, "invalid": None, "failed": None}, True).cells()
    assert cells[3:6] == ("30", "28", "-")
    only_failed = DemoRow("example_isales.py", "success", 1.0, {**mailup, "invalid": None, "failed": 0}, True)
    assert only_failed.cells()[5] == "0"


def test_outside_a_clone_the_demo_fails_with_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--home", str(tmp_path / "home")]) == 2
    error = capsys.readouterr().err
    assert f"the DAG folder {tmp_path / 'example_dags'} does not exist" in error
    assert "run the demo from a clone" in error
    (tmp_path / "example_dags").mkdir()
    assert main(["--home", str(tmp_path / "home")]) == 2
    assert "has no example_*.py" in capsys.readouterr().err
    assert not (tmp_path / "home").exists(), "nothing is set up before the check"
