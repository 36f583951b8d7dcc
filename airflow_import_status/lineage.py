"""OpenLineage for every import sensor and start-import operator: the one place lineage is built.

Airflow's OpenLineage provider (optional: nothing here imports it until it asks) calls the
standard ``get_openlineage_facets_on_start`` / ``_on_complete`` / ``_on_failure`` methods, which
every sensor and operator gets from :class:`ImportLineageMixin`. What they report
(docs/lineage.md):

- **input** (operators): the source, named per the OpenLineage naming spec: a local path is
  namespace ``file`` and its absolute path; an ``ObjectStoragePath`` is ``{scheme}://{bucket}``
  and its key (``file`` for a local one); a list of rows is no dataset;
- **output**: the vendor's list, as the vendor spec's :class:`~airflow_import_status.vendors.spec.ListDataset`
  names it (``{vendor key}://{host}``, a name from the job's identity, never a credential), with
  the ``outputStatistics`` facet (rows imported) and the ``importStatistics`` facet (imported,
  refused, total) once the import finished; the refused-records file as a second output when the
  task has a ``rejected_records_path``;
- **run facet** ``importStatus``: the import's normalized result (vendor, job id, state, counters),
  on completion and on failure alike.

The result is the one the task finished with (kept on the task object when it pushed it: the
provider's listener runs in a forked process, where no XCom is read). A wait that timed out or
ended in an error carries no result facet.
"""

from __future__ import annotations

import os
import string
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_import_status.result import COUNTER_FIELDS, ImportResult

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Connection

    from airflow_import_status.vendors.spec import VendorSpec

RUN_FACET = "importStatus"
"""Run facet key of the import's result."""
OUTPUT_FACET = "importStatistics"
"""Output-dataset facet key of the records imported and refused."""

SCHEME_ALIASES = {"gcs": "gs", "s3a": "s3", "s3n": "s3", "local": "file"}
"""Object storage schemes as the OpenLineage naming spec writes them."""

try:  # the openlineage client comes with Airflow's OpenLineage provider, which stays optional
    import attrs
    from openlineage.client.generated.base import OutputDatasetFacet, RunFacet
except ImportError:  # pragma: no cover - without the provider nothing asks for lineage
    HAS_OPENLINEAGE = False
else:
    HAS_OPENLINEAGE = True

    @attrs.define
    class ImportStatusRunFacet(RunFacet):
        """The import's normalized result: vendor, job id, state, the vendor's status, its counters."""

        vendor: str
        jobId: str
        state: str
        vendorStatus: str | None = None
        counters: dict[str, int] = attrs.field(factory=dict)
        """The counters the vendor reports (``total``, ``imported``, ``invalid``, ...) and ``refused``."""
        startedAt: str | None = None
        finishedAt: str | None = None
        message: str | None = None

    @attrs.define
    class ImportStatisticsOutputDatasetFacet(OutputDatasetFacet):
        """What the import did to the vendor's list: records imported and refused, of how many."""

        imported: int | None = None
        refused: int | None = None
        total: int | None = None


# ----- naming ---------------------------------------------------------------------------------------------
def path_dataset(path: Any) -> tuple[str, str] | None:
    """``(namespace, name)`` of a file per the OpenLineage naming spec; ``None`` for anything else."""
    # an ObjectStoragePath first: on Airflow 3.1 (universal_pathlib < 0.3) it is an os.PathLike too
    protocol, key = getattr(path, "protocol", None), getattr(path, "key", None)
    if not (isinstance(protocol, str) and isinstance(key, str)):
        if isinstance(path, (str, os.PathLike)):
            return "file", os.path.abspath(os.fspath(path))
        return None
    scheme = SCHEME_ALIASES.get(protocol, protocol)
    if scheme == "file":
        return "file", "/" + key.lstrip("/")
    bucket = getattr(path, "bucket", "") or ""
    return (f"{scheme}://{bucket}" if bucket else scheme), key.lstrip("/")


def host_of(value: str | None) -> str | None:
    """``host[:port]`` of a host field or URL: never the user, password, path or query it may carry."""
    text = (value or "").strip()
    if not text:
        return None
    parts = urllib.parse.urlsplit(text if "://" in text else f"//{text}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return f"{host}:{port}" if port else host


def list_dataset(spec: VendorSpec[Any, Any], job: Mapping[str, Any], conn: Connection | None) -> tuple[str, str] | None:
    """``(namespace, name)`` of the vendor list ``job`` writes into, as the vendor spec declares it."""
    naming = spec.dataset
    if naming is None:
        return None
    host = host_of(conn.host if conn is not None else None) or host_of(naming.default_host)
    if host is None:
        return None
    extra = dict(conn.extra_dejson or {}) if conn is not None else {}
    values: dict[str, Any] = {f.name: extra.get(f.name) for f in spec.connection.all_extras if not f.secret}
    values.update({name: value for name, value in job.items() if value not in (None, "")})
    for pattern in naming.names:
        fields = [name for _, name, _, _ in string.Formatter().parse(pattern) if name]
        if all(values.get(name) not in (None, "") for name in fields):
            return f"{spec.key}://{host}", pattern.format_map(values)
    return None


# ----- the provider's methods -------------------------------------------------------------------------------
class ImportLineageMixin:
    """The OpenLineage provider's three methods, for every import sensor and start-import operator."""

    def get_openlineage_facets_on_start(self) -> OperatorLineage[Any, Any] | None:
        return task_lineage(self, None)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any] | None:
        return task_lineage(self, task_instance)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage[Any, Any] | None:
        return task_lineage(self, task_instance)


def _connection(task: Any) -> Connection | None:
    try:
        conn: Connection = task.hook.get_connection(task.conn_id)
        return conn
    except Exception:  # lineage is never worth failing over: the spec's default host may still name the list
        task.log.debug("OpenLineage: no connection %r", task.conn_id, exc_info=True)
        return None


def task_lineage(task: Any, task_instance: Any) -> OperatorLineage[Any, Any] | None:
    """Inputs, outputs and the result facet of ``task``; ``task_instance`` is ``None`` at the start."""
    if not HAS_OPENLINEAGE:
        return None
    try:
        from airflow.providers.common.compat.openlineage.facet import (
            InputDataset,
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:  # the client without Airflow's provider: nothing to report to
        return None

    result: ImportResult | None = getattr(task, "lineage_result", None) if task_instance is not None else None
    lineage: OperatorLineage[Any, Any] = OperatorLineage()
    source = path_dataset(getattr(task, "source", None))
    if source is not None:
        lineage.inputs.append(InputDataset(namespace=source[0], name=source[1]))
    job = {name: getattr(task, name, None) for name in task.job_fields}
    target = list_dataset(task.spec, job, _connection(task))
    if target is not None:
        output_facets: dict[str, Any] = {}
        if result is not None and result.state.is_terminal:
            if result.imported is not None:
                output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=result.imported)
            output_facets[OUTPUT_FACET] = ImportStatisticsOutputDatasetFacet(
                imported=result.imported,
                refused=result.rejected if result.invalid is not None or result.failed is not None else None,
                total=result.total,
            )
        lineage.outputs.append(OutputDataset(namespace=target[0], name=target[1], outputFacets=output_facets))
    rejected = path_dataset(getattr(task, "rejected_records_path", None)) if task_instance is not None else None
    if rejected is not None:
        lineage.outputs.append(OutputDataset(namespace=rejected[0], name=rejected[1]))
    if result is not None:
        lineage.run_facets[RUN_FACET] = result_facet(result)
    return lineage


def result_facet(result: ImportResult) -> Any:
    """The ``importStatus`` run facet of ``result``."""
    counters = {name: getattr(result, name) for name in COUNTER_FIELDS if getattr(result, name) is not None}
    if result.invalid is not None or result.failed is not None:
        counters["refused"] = result.rejected
    return ImportStatusRunFacet(
        vendor=result.vendor,
        jobId=result.job_id,
        state=result.state.value,
        vendorStatus=result.vendor_status,
        counters=counters,
        startedAt=result.started_at,
        finishedAt=result.finished_at,
        message=result.message,
    )
