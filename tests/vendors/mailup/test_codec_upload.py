"""MailUp's upload side of the codec: the subscribers document, one NewImportProcess per batch, the
start (StartProcess / StartImportProcesses) and the status of an upload's processes, summed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree

from airflow_import_status.errors import PermanentVendorError, VendorPayloadError
from airflow_import_status.result import ImportState
from airflow_import_status.simulators.mailup import soap_envelope, subscriber_counters
from airflow_import_status.transport import HttpRequest, HttpResponse, Shared
from airflow_import_status.vendors.mailup.codec import (
    ListBusyError,
    MailUpCodec,
    parse_start_import_processes,
    parse_wsdl,
    subscriber_problem,
    subscribers_xml,
)
from airflow_import_status.vendors.mailup.spec import MailUpJob
from airflow_import_status.vendors.spec import JobFieldError
from tests.vendors.mailup.test_codec import LIST_GUID, WSDL_URL, _message, _settings, _wsdl

CODEC = MailUpCodec()
NS = {"ws": "http://ws.mailupnet.it/"}
ENDPOINT = "https://a1b2c3.s99.it/Services/WSMailUpImport.asmx"


def _answer(operation: str, code: int) -> HttpResponse:
    return HttpResponse(200, {}, soap_envelope(operation, _message(f"<ReturnCode>{code}</ReturnCode>")).encode(), "")


def _call(request: HttpRequest) -> tuple[str, etree._Element]:
    """The operation and its parameters element of a SOAP request."""
    body = etree.fromstring(request.content).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    call = body[0]
    return etree.QName(call).localname, call


def _first_request(flow) -> HttpRequest:
    shared = next(flow)
    assert isinstance(shared, Shared) and shared.request.url == WSDL_URL
    return flow.send(parse_wsdl(_wsdl(), WSDL_URL))


# ----- the subscribers document ---------------------------------------------------------------------------
def test_the_document_has_the_xml_feed_shape():
    doc = subscribers_xml(
        [
            {"email": 'a&b"@example.com', "Name": "Ada <L>", "campo1": "Ada", "campo2": None},
            {"email": "b@example.com", "Number": 3331234567, "Prefix": "+39"},
        ]
    )
    root = etree.fromstring(doc)
    first, second = root
    assert root.tag == "subscribers" and first.tag == second.tag == "subscriber"
    assert (first.get("email"), first.get("Name")) == ('a&b"@example.com', "Ada <L>")
    assert [(child.tag, child.text) for child in first] == [("campo1", "Ada")], "None is left out"
    assert (second.get("Number"), second.get("Prefix"), len(second)) == ("3331234567", "+39", 0)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"email": "a@example.com", "nickname": "A"}, "field(s) nickname not a MailUp subscriber field"),
        ({"email": "a@example.com", "campo0": "x"}, "field(s) campo0 not a MailUp subscriber field"),
        ({"Name": "Nobody"}, "no email"),
        ({"email": "  "}, "no email"),
        ({"email": "a@example.com", "campo1": "bell\x07"}, "field campo1 holds U+0007"),
    ],
)
def test_rows_mailup_would_refuse_before_the_import(row, reason):
    assert reason in (subscriber_problem(row) or "")


@pytest.mark.parametrize("email", ["a@example.com", "not-an-email", "x@y"])
def test_an_address_mailup_cannot_use_is_not_a_bad_row(email):
    assert subscriber_problem({"email": email, "campo1": "A", "campo12": "B"}) is None


def test_the_simulator_counts_the_document_as_mailup_reports_it():
    doc = subscribers_xml([{"email": "a@example.com"}, {"email": "not-an-email"}, {"email": "b@example.org"}])
    assert subscriber_counters(doc) == {"total": 3, "new_email": 2}
    assert subscriber_counters("") == -401, "xmlDoc is empty"
    assert subscriber_counters("<subscribers><subscriber") == -402, "convert xml to csv failed"
    assert subscriber_counters("<contacts><subscriber email='a@example.com'/></contacts>") == -402


# ----- the upload: one NewImportProcess per batch ---------------------------------------------------------
def test_each_batch_is_one_process_and_the_next_batch_is_read_only_after_the_answer():
    read: list[int] = []
    prepared: list[int] = []

    def batches() -> Iterator[list[dict]]:
        for number in range(3):
            read.append(number)
            yield [{"email": f"u{number}.{i}@example.com"} for i in range(2)]

    flow = CODEC.upload_flow(_settings(), 1, LIST_GUID, batches(), [5], prepared.append)
    request = _first_request(flow)
    for number, process_id in enumerate([17, 18, 19]):
        operation, call = _call(request)
        assert (operation, request.idempotent, request.url) == ("NewImportProcess", False, ENDPOINT)
        doc = etree.fromstring(call.findtext("ws:xmlDoc", namespaces=NS))
        assert [row.get("email") for row in doc] == [f"u{number}.0@example.com", f"u{number}.1@example.com"]
        assert call.findtext("ws:idGroups", namespaces=NS) == "5"
        assert read == list(range(number + 1)), "a batch was read before the previous one was answered"
        if number < 2:
            request = flow.send(_answer("NewImportProcess", process_id))
    with pytest.raises(StopIteration) as done:
        flow.send(_answer("NewImportProcess", 19))
    assert done.value.value == (17, 18, 19)
    assert prepared == [17, 18, 19], "each idProcess is heard the moment MailUp returns it"


def test_a_refused_batch_names_the_processes_already_prepared():
    flow = CODEC.upload_flow(_settings(), 1, LIST_GUID, [[{"email": "a@example.com"}], [{"email": "b@example.com"}]])
    _first_request(flow)
    flow.send(_answer("NewImportProcess", 17))
    with pytest.raises(PermanentVendorError, match=r"-402: .*; idProcess 17 is prepared, not started"):
        flow.send(_answer("NewImportProcess", -402))


# ----- the start ------------------------------------------------------------------------------------------
def test_one_process_is_started_with_start_process():
    flow = CODEC.start_processes_flow(_settings(), 1, LIST_GUID, [17])
    operation, call = _call(request := _first_request(flow))
    assert (operation, request.idempotent) == ("StartProcess", False)
    assert call.findtext("ws:idProcess", namespaces=NS) == "17"
    with pytest.raises(ListBusyError, match=r"-601: .*idProcess 17 is prepared, not started"):
        flow.send(_answer("StartProcess", -601))


def test_several_processes_are_started_by_one_start_import_processes_without_xml_doc():
    flow = CODEC.start_processes_flow(_settings(), 1, LIST_GUID, [17, 18], group_ids=[3, 4])
    operation, call = _call(request := _first_request(flow))
    assert (operation, request.idempotent) == ("StartImportProcesses", False)
    assert [etree.QName(child).localname for child in call] == [
        "listsIDs", "listsGUIDs", "groupsIDs", "importType", "mobileInputType", "asPending", "ConfirmEmail",
        "asOptOut", "forceOptIn", "replaceGroups",
    ]  # fmt: skip
    assert [call.findtext(f"ws:{name}", namespaces=NS) for name in ("listsIDs", "listsGUIDs", "groupsIDs")] == [
        "1",
        LIST_GUID,
        "3,4",
    ]
    with pytest.raises(StopIteration):
        flow.send(_answer("StartImportProcesses", 0))


def test_start_import_processes_succeeds_only_when_every_return_code_is_zero():
    parse_start_import_processes(_message("<ReturnCode>0</ReturnCode>"))
    nested = "<ReturnCode>0</ReturnCode><Processes><Process><ReturnCode>{}</ReturnCode></Process></Processes>"
    parse_start_import_processes(_message(nested.format(0)))
    with pytest.raises(ListBusyError):
        parse_start_import_processes(_message(nested.format(-602)))
    with pytest.raises(VendorPayloadError, match="a ReturnCode is '5', not 0"):
        parse_start_import_processes(_message(nested.format(5)))


# ----- the status of an upload's processes ----------------------------------------------------------------
def _details(process_id: int, status: str, total: int = 0, new: int = 0) -> HttpResponse:
    fields = (
        f"<StartDate>30/10/2012 15.39.12</StartDate><EndDate>{'30/10/2012 15.40.00' if status in '34' else ''}"
        f"</EndDate><TotalContacts>{total}</TotalContacts><NewMobile>0</NewMobile><NewEmail>{new}</NewEmail>"
        "<OptOutMobile>0</OptOutMobile><OptOutEmail>0</OptOutEmail><ExistingMobile>0</ExistingMobile>"
        f"<ExistingEmail>1</ExistingEmail><StatusCode>{status}</StatusCode>"
        f"<IsRunning>{'True' if status == '2' else 'False'}</IsRunning>"
    )
    body = f'<ReturnCode>0</ReturnCode><ImportProcess idProcess="{process_id}">{fields}</ImportProcess>'
    return HttpResponse(200, {}, soap_envelope("GetProcessDetails", _message(body)).encode(), "")


def _poll(job: MailUpJob, answers: dict[int, HttpResponse]):
    """Drive the status flow; return the result and the idProcess values it asked about."""
    flow = CODEC.status_flow(_settings(), job)
    request = _first_request(flow)
    asked = []
    while True:
        _, call = _call(request)
        asked.append(int(call.findtext("ws:idProcess", namespaces=NS)))
        try:
            request = flow.send(answers[asked[-1]])
        except StopIteration as done:
            return done.value, asked


JOB = MailUpJob(list_id=1, list_guid=LIST_GUID, process_id=17, more_process_ids="18,19")


def test_an_upload_succeeds_once_every_process_did_with_the_counters_summed():
    answers = {17: _details(17, "3", 10, 9), 18: _details(18, "3", 10, 10), 19: _details(19, "3", 5, 4)}
    result, asked = _poll(JOB, answers)
    assert asked == [17, 18, 19]
    assert (result.state, result.job_id, result.total, result.inserted, result.updated) == (
        ImportState.SUCCEEDED,
        "17",
        25,
        23,
        3,
    )
    assert result.imported == 26 and result.details["NewEmail"] == 23 and result.details["processes"] == 3
    assert result.finished_at is not None


def test_a_poll_stops_at_the_first_unfinished_process():
    result, asked = _poll(JOB, {17: _details(17, "3", 10, 9), 18: _details(18, "2", 10, 3)})
    assert asked == [17, 18], "the later processes wait behind the running one"
    assert (result.state, result.total, result.finished_at) == (ImportState.RUNNING, None, None)
    assert result.details["process"] == "process 2 of 3 (idProcess 18)"
    pending, asked = _poll(JOB, {17: _details(17, "1")})
    assert (pending.state, asked) == (ImportState.PENDING, [17])


def test_one_failed_process_fails_the_upload_at_once():
    result, asked = _poll(JOB, {17: _details(17, "4", 10, 0)})
    assert (result.state, asked) == (ImportState.FAILED, [17])
    assert "process 1 of 3 (idProcess 17) failed" in result.message


def test_one_process_reads_as_before():
    job = MailUpJob(list_id=1, list_guid=LIST_GUID, process_id=17)
    result, asked = _poll(job, {17: _details(17, "3", 4, 3)})
    assert (asked, result.total, result.inserted, job.process_ids) == ([17], 4, 3, (17,))
    assert "processes" not in result.details


def test_more_process_ids_must_be_process_numbers():
    assert JOB.process_ids == (17, 18, 19)
    with pytest.raises(JobFieldError, match="more_process_ids"):
        MailUpJob(list_id=1, list_guid=LIST_GUID, process_id=17, more_process_ids="18,x")
