"""ContactUpload: every source kind and format, bad rows, errors naming the source, bounded memory, progress."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_import_status.operators.upload import (
    MAX_BAD_ROWS_SHOWN,
    PROGRESS_EVERY_SECONDS,
    ContactUpload,
    SourceError,
)
from airflow_import_status.simulators.contacts import CONTACT_COLUMNS, contact, contacts, write_csv


def _all(upload: ContactUpload) -> list[list[dict[str, Any]]]:
    return list(upload.batches())


def test_csv_in_batches_with_every_value_read(tmp_path):
    path = write_csv(tmp_path / "contacts.csv", 25)
    upload = ContactUpload(str(path), batch_size=10)
    batches = _all(upload)
    assert [len(b) for b in batches] == [10, 10, 5]
    assert batches[0][0] == contact(1) and batches[-1][-1] == contact(25)
    assert (upload.progress.rows_sent, upload.progress.batches_sent, upload.progress.bad_row_count) == (25, 3, 0)


def test_csv_delimiter_and_encoding(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("email;first_name\nzoe@example.com;Zoë\nrené@example.com;René\n".encode("latin-1"))
    rows = [
        row for batch in ContactUpload(path, batch_size=5, delimiter=";", encoding="latin-1").batches() for row in batch
    ]
    assert rows == [
        {"email": "zoe@example.com", "first_name": "Zoë"},
        {"email": "rené@example.com", "first_name": "René"},
    ]
    with pytest.raises(SourceError, match="not utf-8"):
        _all(ContactUpload(path, batch_size=5, delimiter=";"))
    with pytest.raises(LookupError):
        ContactUpload(path, batch_size=5, encoding="no-such-codec")


def test_json_lines_by_suffix_with_blank_lines_skipped_and_bad_lines_counted(tmp_path):
    path = tmp_path / "contacts.jsonl"
    lines = [json.dumps(contact(1)), "", json.dumps(contact(2)), "{broken", "[1, 2]", json.dumps(contact(3))]
    path.write_text("\n".join(lines) + "\n")
    upload = ContactUpload(path, batch_size=10)
    assert upload.source_format == "jsonl"
    assert _all(upload) == [[contact(1), contact(2), contact(3)]]
    assert [(bad.row, bad.reason.split(":")[0]) for bad in upload.progress.bad_rows] == [
        (4, "not a JSON object"),
        (5, "a row must be an object/dict, got list"),
    ]


def test_a_list_of_rows_with_a_field_mapping_drops_unmapped_columns():
    rows = [contact(n) for n in range(1, 4)]
    upload = ContactUpload(rows, batch_size=2, field_mapping={"email": "Email", "last_name": "LastName"})
    assert upload.progress.total_rows == 3
    assert _all(upload) == [
        [
            {"Email": "contact1@example.com", "LastName": "Last1"},
            {"Email": "contact2@example.com", "LastName": "Last2"},
        ],
        [{"Email": "contact3@example.com", "LastName": "Last3"}],
    ]
    assert "3 of 3 rows in 2 batches" in upload.progress.describe()


def test_bad_rows_are_counted_with_their_row_numbers_and_reasons(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("email,first_name\na@example.com,A\nb@example.com,B,surplus\n,\nc@example.com,C\n")

    def needs_email(row: dict[str, Any]) -> str | None:
        return None if row.get("email") else "no email"

    upload = ContactUpload(path, batch_size=10, check_row=needs_email)
    assert [row["email"] for batch in _all(upload) for row in batch] == ["a@example.com", "c@example.com"]
    assert upload.bad_rows_text() == "row 2: 1 more values than header columns; row 3: no email"
    assert (upload.progress.rows_read, upload.progress.bad_row_count) == (4, 2)


def test_many_bad_rows_are_all_counted_and_some_quoted():
    rows = [{"email": ""} for _ in range(MAX_BAD_ROWS_SHOWN + 5)] + [contact(1)]
    upload = ContactUpload(rows, batch_size=10, check_row=lambda row: None if row["email"] else "no email")
    assert _all(upload) == [[contact(1)]]
    assert upload.progress.bad_row_count == MAX_BAD_ROWS_SHOWN + 5
    assert upload.bad_rows_text().endswith("; and 5 more")


def test_an_empty_source_is_an_error_not_an_empty_import(tmp_path):
    header_only = tmp_path / "empty.csv"
    header_only.write_text(",".join(CONTACT_COLUMNS) + "\n")
    for source in (str(header_only), [], [{"email": ""}]):
        upload = ContactUpload(source, batch_size=10, check_row=lambda row: None if row.get("email") else "no email")
        with pytest.raises(SourceError, match="has no usable rows"):
            _all(upload)


def test_a_missing_source_is_named(tmp_path):
    missing = tmp_path / "nope" / "contacts.csv"
    with pytest.raises(SourceError, match=f"the source '{missing}' does not exist"):
        _all(ContactUpload(str(missing), batch_size=10))
    with pytest.raises(SourceError, match="is a directory"):
        _all(ContactUpload(str(tmp_path), batch_size=10))
    with pytest.raises(SourceError, match="unknown source_format 'xml'"):
        ContactUpload(str(missing), batch_size=10, source_format="xml")


def test_an_object_storage_path(tmp_path):
    from airflow.sdk import ObjectStoragePath

    write_csv(tmp_path / "contacts.csv", 3)
    source = ObjectStoragePath(f"file://{tmp_path}/contacts.csv")
    assert _all(ContactUpload(source, batch_size=10)) == [[contact(1), contact(2), contact(3)]]
    with pytest.raises(SourceError, match=f"file://{tmp_path}/absent.csv' does not exist"):
        _all(ContactUpload(ObjectStoragePath(f"file://{tmp_path}/absent.csv"), batch_size=10))


def test_a_generator_is_consumed_lazily_batch_by_batch():
    """Memory is bounded by the batch: the next batch is read only after the previous one was accepted."""
    produced = 0

    def source() -> Iterator[dict[str, str]]:
        nonlocal produced
        for row in contacts(1_000_000):
            produced += 1
            yield row

    upload = ContactUpload(source(), batch_size=100)
    batches = upload.batches()
    assert upload.progress.total_rows is None
    first = next(batches)
    assert len(first) == 100 and produced == 100
    second = next(batches)
    assert second[0] == contact(101) and produced == 200
    assert (upload.progress.batches_sent, upload.progress.rows_sent) == (1, 100), "only accepted batches count"
    batches.close()
    assert produced == 200, "the rest of the source was never read"


def test_a_file_is_read_batch_by_batch_not_whole(tmp_path):
    path = write_csv(tmp_path / "big.csv", 50_000)
    with path.open() as handle:
        line_count = sum(1 for _ in handle)
    assert line_count == 50_001
    upload = ContactUpload(str(path), batch_size=1000)
    batches = upload.batches()
    next(batches)
    assert upload.progress.rows_read <= 1001, "the whole file was read for the first batch"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_logged_at_least_every_ten_seconds(caplog):
    clock = FakeClock()
    upload = ContactUpload(contacts(10_000), batch_size=100, log=logging.getLogger("upload-test"), clock=clock)
    with caplog.at_level(logging.INFO, logger="upload-test"):
        for _batch in upload.batches():
            clock.now += 3.0  # each batch takes 3 s to reach the vendor
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Uploading:")]
    # 100 batches of 3 s: a line as soon as 10 s have passed since the last one (after batches 4, 8, ...)
    assert len(progress) == 25
    assert progress[0] == "Uploading: 400 rows in 4 batches sent, 0 bad rows, 33 rows/s"
    assert progress[1].startswith("Uploading: 800 rows in 8 batches sent")
    assert caplog.records[-1].getMessage().startswith("Upload complete: 10000 rows in 100 batches")


def test_progress_of_a_known_size_says_of_how_many(caplog):
    clock = FakeClock()
    rows = [contact(n) for n in range(1, 101)]
    upload = ContactUpload(rows, batch_size=10, log=logging.getLogger("sized"), clock=clock)
    with caplog.at_level(logging.INFO, logger="sized"):
        for _batch in upload.batches():
            clock.now += PROGRESS_EVERY_SECONDS
    assert caplog.records[0].getMessage() == "Uploading: 10 of 100 rows in 1 batches sent, 0 bad rows, 1 rows/s"


def test_no_progress_line_before_ten_seconds(caplog):
    clock = FakeClock()
    upload = ContactUpload(
        [contact(n) for n in range(1, 51)], batch_size=10, log=logging.getLogger("quiet"), clock=clock
    )
    with caplog.at_level(logging.INFO, logger="quiet"):
        for _batch in upload.batches():
            clock.now += PROGRESS_EVERY_SECONDS / 10
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["Upload complete"]


def test_the_heap_is_frozen_only_while_uploading_and_an_already_frozen_one_is_left_alone():
    import gc

    from airflow_import_status.operators.upload import INTERPRETER_PERMANENT_OBJECTS_MAX, startup_heap_frozen

    # the interpreter's own permanent objects (375 on CPython 3.12.1, 0 on 3.11 and 3.13)
    interpreter_own = gc.get_freeze_count()
    assert interpreter_own <= INTERPRETER_PERMANENT_OBJECTS_MAX
    with startup_heap_frozen():
        assert gc.get_freeze_count() > INTERPRETER_PERMANENT_OBJECTS_MAX
    assert gc.get_freeze_count() <= interpreter_own
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with startup_heap_frozen():
            pass
        assert gc.get_freeze_count() > frozen // 2, "a process frozen by its executor was unfrozen"
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".jsonl.gz"])
def test_compressed_files_are_read_as_they_are_decompressed(tmp_path, suffix):
    import bz2
    import gzip

    rows = [contact(n) for n in range(1, 4)]
    if suffix.startswith(".jsonl"):
        text = "".join(json.dumps(row) + "\n" for row in rows)
    else:
        text = ",".join(CONTACT_COLUMNS) + "\n" + "".join(",".join(row.values()) + "\n" for row in rows)
    opener = gzip.open if suffix.endswith(".gz") else bz2.open
    path = tmp_path / f"contacts{suffix}"
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    assert _all(ContactUpload(str(path), batch_size=10)) == [rows]


def test_a_truncated_compressed_file_is_a_source_error(tmp_path):
    import gzip

    path = tmp_path / "contacts.csv.gz"
    path.write_bytes(gzip.compress(b"email\n" + b"a@example.com\n" * 1000)[:-20])
    with pytest.raises(SourceError, match="not a complete compressed file"):
        _all(ContactUpload(str(path), batch_size=10))
