"""Huawei CC-iSales data-file import tasks: what the package knows about the vendor, declared once.

Sources: the vendor's queryDataImportTask pages ("Querying Blacklist Data File Import Results",
https://support.huaweicloud.com/intl/en-us/api-cec/cec_07_4029.html, and its call-data sibling)
and, for the AK/SK signature, the public ports of Huawei's CC demo. Inferred (configurable on
the connection): the signed
header list, whether ``importTaskIds`` is sent, and which result codes are worth retrying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_import_status.result import StatusTable
from airflow_import_status.vendors.spec import (
    ConnectionField,
    ConnectionSchema,
    ImportJob,
    ListDataset,
    StandardField,
    VendorClasses,
    VendorSpec,
    job_field,
)

API_PREFIX = "rest/isales/v1/openapi/campaigns"
SUCCESS_CODE = "0200000"
AUTH_VERSION = "auth-v2"
DEFAULT_SIGNED_HEADERS: tuple[str, ...] = ("content-length", "content-type", "host")
MAX_PAGE_SIZE = 100  # queryDataImportTask: limit ranges from 1 to 100
MAX_VDN_ID = 9999  # queryDataImportTask: vdnId is an integer from 1 to 9999

PARAMETER_ERROR_CODES: dict[str, str] = {
    "0200001": "Parameter error",
    "0200006": "The parameter contains invalid characters",
    "02000001": "Empty parameter",
    "02000002": "The parameter contains invalid characters",
    "02000003": "The parameter length cannot exceed the maximum length",
    "02000004": "The parameter length cannot be less than the minimum length",
    "02000005": "The parameter length must be within the specified range",
    "02000006": "Incorrect parameter type",
    "02000007": "Incorrect parameter value",
    "02000008": "Parameter conversion error",
    "02000009": "Incorrect parameter combination",
    "02000010": "The hour and minute parameters must be set at the same time",
    "02000011": "The number of parameters cannot exceed the specified number",
}
"""The vendor page's error table: every documented code is a parameter error."""

# queryDataImportTask: status "0" preparing, "1" importing, "2" imported, "3" import failed.
STATUS_TABLE = StatusTable(
    pending=frozenset({"0"}), running=frozenset({"1"}), succeeded=frozenset({"2"}), failed=frozenset({"3"})
)
STATUS_MEANINGS = {"0": "preparing for import", "1": "importing", "2": "imported", "3": "import failed"}


@dataclass(frozen=True)
class ISalesJob(ImportJob):
    """One data-file import task: a blacklist file import, or a call-data import of a campaign."""

    vdn_id: int = job_field(label="VDN id (1..9999)", kind=int)
    import_task_id: str = job_field(label="import task id", job_id=True)
    campaign_id: str | None = job_field(label="campaign id (call-data imports; empty for blacklist)", optional=True)

    label_format = "{import_task_id} (VDN {vdn_id})"

    @property
    def is_blacklist(self) -> bool:
        return self.campaign_id is None

    def describe(self) -> str:
        kind = "blacklist file" if self.is_blacklist else f"call data file of campaign {self.campaign_id}"
        return f"{self.import_task_id} ({kind}, VDN {self.vdn_id})"


CONNECTION = ConnectionSchema(
    standard=(
        StandardField("host", "Server (https://ip)", placeholder="https://10.0.0.1"),
        StandardField("port", "Port", placeholder="28090", required=False),
        StandardField("login", "AK"),
        StandardField("password", "SK"),
    ),
    extras=(
        ConnectionField(
            "signed_headers",
            "Signed headers (';'-separated, inferred)",
            default=";".join(DEFAULT_SIGNED_HEADERS),
            description="Header names the auth-v2 signature covers; host is always among them.",
        ),
        ConnectionField("page_size", "Page size (limit, 1..100)", int, MAX_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE),
        ConnectionField("send_task_ids", "Send importTaskIds (filter on the server)", bool, True),
        ConnectionField("transient_result_codes", "Result codes to retry (comma-separated)"),
        ConnectionField("vdn_id", "VDN id for the connection test", int, 1, minimum=1, maximum=MAX_VDN_ID),
        ConnectionField(
            "signature_encoding",
            "Signature encoding (hex: the demo; base64: raw key bytes, as two public ports)",
            default="hex",
            choices=("hex", "base64"),
        ),
        ConnectionField("locale", "locale header (optional, e.g. en_US)"),
    ),
)

SPEC: VendorSpec[Any, ISalesJob] = VendorSpec(
    key="isales",
    display_name="Huawei CC-iSales",
    api="Huawei CC-iSales queryDataImportTask (blacklist and call-data file imports, REST/JSON, AK/SK auth-v2)",
    connection=CONNECTION,
    job_type=ISalesJob,
    status_table=STATUS_TABLE,
    classes=VendorClasses(
        codec="airflow_import_status.vendors.isales.codec.CODEC",
        hook="airflow_import_status.hooks.isales.ISalesHook",
        sensor="airflow_import_status.sensors.isales.ISalesImportSensor",
        simulator="airflow_import_status.simulators.isales.ISalesSimulator",
    ),
    dataset=ListDataset(("vdn/{vdn_id}/campaign/{campaign_id}", "vdn/{vdn_id}/blacklist")),
    docs={
        "state": "`status`: 0 pending, 1 running, 2 succeeded, 3 failed",
        "total": (
            "succNum + repeatNum + failNum; blackNum (records written to the blacklist, listed on the call-data "
            "import page) is kept in details and not added: the pages do not say whether those records are also "
            "counted in succNum/failNum, and the three counters already cover every record of the file"
        ),
        "imported": "succNum",
        "duplicates": "repeatNum",
        "failed": "failNum",
        "message": "errMsg",
        "started_at": "beginTime",
        "finished_at": "endTime (terminal states only)",
        "details": "vdn_id, campaign_id, import_type (blacklist | calldata), status_meaning, blackNum",
        "connection": (
            "host: `https://{host}:{port}` of the CC-iSales server; login: AK; password: SK. Every request is "
            "signed in `Authorization` with auth-v2 as the Huawei CC-iSales demo and its public ports compute it: "
            "`auth-v2/{AK}/{UTC yyyy-MM-ddTHH:mm:ss.SSSZ}/{signed headers}/{signature}`, HMAC-SHA256 over the "
            "method, path, sorted query, signed headers and the exact body bytes sent (one pure function, "
            "`sign_request`). `signed_headers` (`host` is always signed), `signature_encoding` (`hex`, the demo's, "
            "default; `base64`, the raw-key variant of two ports), `locale` (optional header), `page_size` "
            "(1..100), `send_task_ids`, `transient_result_codes`. The sensor takes `vdn_id`, `import_task_id` and "
            "optionally `campaign_id` (blacklist file import without a campaign, outbound-call data file import "
            "with one)."
        ),
        "sources": (
            "*Querying Blacklist Data File Import Results* "
            "(<https://support.huaweicloud.com/intl/en-us/api-cec/cec_07_4029.html>) and its call-data "
            "sibling: paths, body, paging, result codes, `status` values, counters (the call-data page adds "
            "`blackNum`) and the optional `locale` header. *Huawei CC-iSales demo / its public ports*: "
            "the auth-v2 signature, hex by default, raw-key/base64 in two ports. **Inferred**: `errMsg` "
            "read as text, times without an offset are UTC, an echoed task id other than the one asked for is a "
            "payload error, the upload endpoint (simulator only: no public page documents one)."
        ),
        "rejected_records": (
            "Not listed. Checked (2026-12): Huawei Cloud's *Querying Blacklist Data File Import Results* "
            "(https://support.huaweicloud.com/intl/en-us/api-cec/cec_07_4029.html) and *Querying Outbound Call Data "
            "File Import Results* (https://support.huaweicloud.com/intl/en-us/api-cec/cec_07_4039.html): a "
            "DataImportTask carries the counters (`succNum`, `repeatNum`, `failNum`) and one `errMsg` (the task's "
            "exception cause), but no failure or result file and no per-record reasons; no other CC-iSales page "
            "found lists an import task's failed records. The file gets no vendor lines (`failNum` stays a count)."
        ),
    },
)
