"""MailUp WSMailUpImport (SOAP): what the package knows about the vendor, declared once.

Sources: the vendor's page "WSMailUpImport.GetProcessDetails"
(https://help.mailup.com/display/mailupapi/WSMailUpImport.GetProcessDetails) and
the real WSDL of WSMailUpImport (a saved copy in a public PHP client). Known: the WSDL path,
the ``Authentication`` header, the MailUp message
inside an ``xs:string``, StatusCode 1..4, the ReturnCodes. Inferred (configurable on the
connection): the account timezone of the dates, the header namespace of older accounts.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Any

from airflow_import_status.result import StatusTable
from airflow_import_status.vendors.spec import (
    ConnectionField,
    ConnectionSchema,
    ImportJob,
    JobFieldError,
    ListDataset,
    StandardField,
    VendorClasses,
    VendorSpec,
    job_field,
    status_fields,
)

DEFAULT_TIMEZONE = "Europe/Rome"  # GetProcessDetails' page: dates are the account's local time (default Europe/Rome)
DEFAULT_SOAP_NAMESPACE = "http://ws.mailupnet.it/"  # "WSMailUpImport.GetProcessDetails": the SOAP request
LEGACY_SOAP_NAMESPACE = "http://tempuri.org/"  # older accounts' WSDL: no encType
DEFAULT_ENC_TYPE = "UTF-8"  # "WSMailUpImport.GetProcessDetails": the SOAP request
SERVICE_PATH = "/Services/WSMailUpImport.asmx"  # the vendor's pages: {console_url}/Services/WSMailUpImport.asmx?WSDL

# "WSMailUpImport.GetProcessDetails": StatusCode 1 = to be executed, 2 = in progress, 3 = completed, 4 = failed.
STATUS_TABLE = StatusTable(
    pending=frozenset({"1"}), running=frozenset({"2"}), succeeded=frozenset({"3"}), failed=frozenset({"4"})
)


def _timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown timezone (use an IANA name such as 'Europe/Rome')") from None


@dataclass(frozen=True)
class MailUpJob(ImportJob):
    """One import process of a MailUp list (``GetProcessDetails(idList, listGUID, idProcess)``)."""

    list_id: int = job_field(label="list id (idList)", kind=int)
    list_guid: str = job_field(label="list GUID (listGUID)")
    process_id: int = job_field(label="import process id (idProcess)", kind=int, job_id=True)
    more_process_ids: str | None = job_field(
        label="the same upload's later import processes (idProcess, comma-separated), waited on and summed "
        "with process_id",
        optional=True,
    )

    label_format = "{process_id} of list {list_id}"

    def __post_init__(self) -> None:
        if not all(part.strip().isdigit() for part in (self.more_process_ids or "").split(",") if part.strip()):
            raise JobFieldError(
                f"job parameter 'more_process_ids' must be idProcess numbers separated by commas, "
                f"got {self.more_process_ids!r}"
            )

    @property
    def process_ids(self) -> tuple[int, ...]:
        """Every import process of the upload, in the order MailUp runs them."""
        more = (int(part) for part in (self.more_process_ids or "").split(",") if part.strip())
        return (self.process_id, *more)


CONNECTION = ConnectionSchema(
    standard=(
        StandardField("host", "Console URL", placeholder="https://a1b2c3.s99.it"),
        StandardField("login", "API user", placeholder="a1234"),
        StandardField("password", "API password"),
    ),
    extras=(
        ConnectionField(
            "timezone",
            "Account timezone (IANA name)",
            default=DEFAULT_TIMEZONE,
            validate=_timezone,
            description="MailUp writes dates in the account's local time (inferred default: Europe/Rome).",
        ),
        ConnectionField(
            "soap_namespace",
            "SOAP header namespace (http://tempuri.org/ for older accounts)",
            default=DEFAULT_SOAP_NAMESPACE,
        ),
        ConnectionField(
            "enc_type",
            "encType header value ('none': omit)",
            description="Default UTF-8 (omitted for the http://tempuri.org/ namespace); 'none' omits it.",
        ),
        *status_fields("MailUp StatusCode"),
    ),
)

SPEC: VendorSpec[Any, MailUpJob] = VendorSpec(
    key="mailup",
    display_name="MailUp",
    api="MailUp WSMailUpImport.GetProcessDetails (SOAP)",
    connection=CONNECTION,
    job_type=MailUpJob,
    status_table=STATUS_TABLE,
    classes=VendorClasses(
        codec="airflow_import_status.vendors.mailup.codec.CODEC",
        hook="airflow_import_status.hooks.mailup.MailUpHook",
        sensor="airflow_import_status.sensors.mailup.MailUpImportSensor",
        simulator="airflow_import_status.simulators.mailup.MailUpSimulator",
        operator="airflow_import_status.operators.mailup.MailUpImportOperator",
    ),
    dataset=ListDataset(("list/{list_id}",)),
    docs={
        "state": "`StatusCode` 1 pending, 2 running, 3 succeeded (running while `IsRunning` is True), 4 failed",
        "total": "TotalContacts",
        "imported": "inserted + updated",
        "inserted": "NewEmail + NewMobile",
        "updated": "ExistingEmail + ExistingMobile",
        "opted_out": "OptOutEmail + OptOutMobile",
        "started_at": "StartDate (`dd/MM/yyyy HH.mm.ss` or `HH:mm:ss`, account timezone)",
        "finished_at": "EndDate (`dd/MM/yyyy HH.mm.ss` or `HH:mm:ss`, account timezone)",
        "details": "the six channel counters, IsRunning, ConfirmationEmail, ConfirmationSent; StartDate/EndDate "
        "(`dd/MM/yyyy HH.mm.ss` or `HH:mm:ss`, account timezone) to UTC",
        "progress": "- (not reported)",
        "connection": "host: the account's console URL (the WSDL is "
        "`{console_url}/Services/WSMailUpImport.asmx?WSDL`); "
        "login/password: the API user and password, sent in the SOAP `Authentication` header. Extras: `timezone` "
        "(the account's, default Europe/Rome, for MailUp's local dates), `soap_namespace` (default "
        "`http://ws.mailupnet.it/`; `http://tempuri.org/` for older accounts, which send no `encType`), `enc_type` "
        "(`none` omits it). zeep builds each envelope offline from the WSDL, a shared value fetched once per process "
        "and target through the shared transport (parsed in a worker thread on the async path) with DTDs, entities "
        "and external imports refused. Every SOAP call goes to `{console_url}/Services/WSMailUpImport.asmx`, never "
        'to the WSDL\'s advertised `soap:address`. ReturnCode -501 is "job not found", -100..-102 bad input, '
        "-1000..-1014 bad credentials (never retried), -500, SOAP `Server` faults and -601/-602 (another import is "
        "running: MailUp runs one at a time) transient, SOAP `Client` faults bad input.",
        "sources": "*WSMailUpImport.GetProcessDetails* "
        "(<https://help.mailup.com/display/mailupapi/WSMailUpImport.GetProcessDetails>): "
        "parameters, StatusCode, "
        "the date format, ReturnCodes -500/-501 and the credential and list ranges. The real WSDL of WSMailUpImport "
        "(a saved copy in a public PHP client): every operation and parameter "
        "(`idGroups` is a string), the SOAP 1.2 / HTTP GET / HTTP POST ports, the `http://` `soap:address` with the "
        "`WSMailupImport.asmx` spelling. *WS_Activation*, *WSMailUpImport.NewImportProcess*, "
        "*WSMailUpImport.StartProcess* and MailUp's authentication page: the other ReturnCodes. A public PHP "
        "client: `HH:mm:ss` dates. **Inferred**: `IsRunning` True with StatusCode 3 means still running; "
        "the meaning of -200, -300..-303 and -404..-450 (unpublished); GetNlLists' parameters. "
        "Uploads (`MailUpImportOperator`): *WSMailUpImport.NewImportProcess*'s XML feed (`email`, `Prefix`, "
        "`Number`, `Name` attributes, `campo1`, `campo2`, ... elements) and *WSMailUpImport.StartImportProcesses* "
        '(Best practices: "tested with 1.2 million characters"; split the data over several NewImportProcess calls '
        "and start them with StartImportProcesses without `xmlDoc`, MailUp 8.2.1 or later; success only when every "
        "ReturnCode is 0). **Inferred**: 10,000 subscribers per process; where StartImportProcesses puts its "
        "per-process ReturnCodes; which addresses MailUp cannot import (the simulator: one `@`, a dotted domain).",
        "rejected_records": (
            "Not listed. Checked (2026-12): the WSMailUpImport service (its WSDL, as a public PHP client saved it: "
            "NewImportProcess, StartProcess, StartImportProcesses, GetProcessDetails, CreateGroup, GetNlLists): "
            "GetProcessDetails answers counters only, and no method lists the recipients an import refused. The "
            "file gets the rows the operator refused before sending (no email, unknown field, a character XML "
            "cannot carry)."
        ),
    },
)
