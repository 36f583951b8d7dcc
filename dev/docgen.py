"""The vendor tables of the README and the docs site, ``docs/vendors/<key>.md``, and the provider info
Airflow reads (``airflow_import_status/get_provider_info.py``, a static dict), from the vendor registry.

``python dev/docgen.py`` rewrites them; ``--check`` exits 1 when the committed
files differ from what the registry produces (a test runs the same check).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_import_status import __version__
from airflow_import_status.result import COUNTER_FIELDS
from airflow_import_status.vendors import builtin_specs
from airflow_import_status.vendors.spec import ConnectionField, VendorSpec

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
VENDOR_DOCS = DOCS / "vendors"
BLOCKS = {
    README: ("vendors",),
    DOCS / "index.md": ("vendors",),
    DOCS / "result.md": ("mapping",),
    DOCS / "connections.md": ("connections",),
    DOCS / "lineage.md": ("lineage",),
}
"""Which file holds which generated block (between ``<!-- BEGIN/END GENERATED: name -->`` markers)."""
PROVIDER_INFO = ROOT / "airflow_import_status" / "get_provider_info.py"
"""The provider info, a dict literal: Airflow reads it without importing the registry."""

MAPPING_COLUMNS = ("state", *COUNTER_FIELDS, "progress", "details")
"""The normalized result's columns, as the vendor specs' ``docs`` describe each."""
_KIND = {str: "text", int: "integer", float: "number", bool: "boolean"}
NOT_REPORTED = "\u2013"
"""An en dash: the vendor does not report this."""


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def mapping_table(specs: Sequence[VendorSpec[Any, Any]]) -> str:
    """How each vendor fills the normalized result (a dash where it reports nothing)."""
    lines = [
        "| vendor | " + " | ".join(MAPPING_COLUMNS) + " |",
        "|---" * (len(MAPPING_COLUMNS) + 1) + "|",
    ]
    for spec in specs:
        cells = [_cell(spec.docs.get(column, NOT_REPORTED)) for column in MAPPING_COLUMNS]
        lines.append(f"| {spec.key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def vendors_table(specs: Sequence[VendorSpec[Any, Any]]) -> str:
    lines = ["| vendor key | vendor / API | hook | sensor |", "|---|---|---|---|"]
    for spec in specs:
        hook = spec.hook_class_name.rpartition(".")[2]
        sensor = spec.sensor_class_name.rpartition(".")[2]
        lines.append(f"| `{spec.key}` | {spec.display_name}: {spec.api} | `{hook}` | `{sensor}` |")
    return "\n".join(lines)


def _default(field: ConnectionField) -> str:
    if field.default is None or field.default == "":
        return ""
    return f"`{str(field.default).lower() if isinstance(field.default, bool) else field.default}`"


def fields_table(spec: VendorSpec[Any, Any]) -> str:
    lines = ["| field | what | type | default |", "|---|---|---|---|"]
    for standard in spec.connection.standard:
        kind = "secret" if standard.name == "password" else "text"
        lines.append(f"| {standard.name} | {_cell(standard.label)} | {kind} | |")
    for extra in spec.connection.all_extras:
        kind = "secret" if extra.secret else _KIND[extra.kind]
        if extra.choices:
            kind = " / ".join(f"`{choice}`" for choice in extra.choices)
        what = _cell(extra.label + (f". {extra.description}" if extra.description else ""))
        lines.append(f"| extra `{extra.name}` | {what} | {kind} | {_default(extra)} |")
    return "\n".join(lines)


def connections_section(specs: Sequence[VendorSpec[Any, Any]]) -> str:
    parts = []
    for spec in specs:
        parts.append(
            f"**`{spec.key}`** — {spec.docs.get('connection', spec.display_name)} "
            f"Every field: [{spec.display_name}](vendors/{spec.key}.md)."
        )
    return "\n\n".join(parts)


def lineage_table(specs: Sequence[VendorSpec[Any, Any]]) -> str:
    """docs/lineage.md: the OpenLineage dataset each vendor's import writes into."""
    from airflow_import_status.lineage import host_of

    lines = ["| vendor | namespace | name (the first whose fields are known) |", "|---|---|---|"]
    for spec in specs:
        if spec.dataset is None:
            lines.append(f"| `{spec.key}` | {NOT_REPORTED} | none: the job names no list |")
            continue
        default = host_of(spec.dataset.default_host)
        host = f"{{host}}` (default `{default}`)" if default else "{host}`"
        names = " or ".join(f"`{name}`" for name in spec.dataset.names)
        lines.append(f"| `{spec.key}` | `{spec.key}://{host} | {names} |")
    return "\n".join(lines)


def vendor_page(spec: VendorSpec[Any, Any]) -> str:
    """``docs/vendors/<key>.md``: connection, job, statuses, mapping, and what is known vs inferred."""
    job_rows = [
        f"| `{f.name}` | {f.metadata['label']} | {_KIND[f.metadata['kind']]} | "
        f"{'yes' if f.metadata['job_id'] else ''} | {'optional' if f.metadata['optional'] else 'required'} |"
        for f in spec.job_type.job_fields()
    ]
    table = spec.status_table
    status_rows = [
        f"| {state} | {', '.join(f'`{value}`' for value in sorted(values)) or NOT_REPORTED} |"
        for state, values in (
            ("pending", table.pending),
            ("running", table.running),
            ("succeeded", table.succeeded),
            ("failed", table.failed),
        )
    ]
    mapping = [f"| {column} | {_cell(spec.docs.get(column, NOT_REPORTED))} |" for column in MAPPING_COLUMNS]
    return "\n".join(
        [
            f"# {spec.display_name} (`{spec.key}`)",
            "",
            "<!-- Generated by `python dev/docgen.py` from "
            f"`airflow_import_status/vendors/{spec.key}/spec.py`; edit the spec, not this file. -->",
            "",
            f"{spec.api}. Hook `{spec.hook_class_name}`, sensor `{spec.sensor_class_name}`, "
            f"connection type `{spec.conn_type}` (default connection id `{spec.default_conn_id}`).",
            "",
            "## Connection",
            "",
            spec.docs.get("connection", ""),
            "",
            fields_table(spec),
            "",
            "## Job fields (sensor parameters, templated)",
            "",
            "| parameter | what | type | job id | |",
            "|---|---|---|---|---|",
            *job_rows,
            "",
            "## Vendor statuses",
            "",
            "| state | vendor statuses |",
            "|---|---|",
            *status_rows,
            "",
            "## Normalized result",
            "",
            "| key | from |",
            "|---|---|",
            *mapping,
            "",
            "## Sources: what is known and what is inferred",
            "",
            spec.docs.get("sources", "See the comments in the vendor's codec."),
            "",
            "## Refused records (`rejected_records_path`)",
            "",
            spec.docs.get("rejected_records", "No public call lists the records this vendor refused."),
            "",
        ]
    )


def _module(class_name: str) -> str:
    return class_name.rpartition(".")[0]


def provider_info(specs: Sequence[VendorSpec[Any, Any]]) -> dict[str, Any]:
    """What Airflow's ProvidersManager reads: each vendor's connection type, form, hook, sensor and operator."""
    return {
        "package-name": "airflow-import-status",
        "name": "Import Status",
        "description": "Deferrable sensors that wait for contact-import jobs at marketing and contact-center vendors "
        "(Which50, MailUp, PossibleNOW MyPreferences, Huawei CC-iSales, Blackbaud Luminate), and operators that "
        "upload the contacts, start the import and wait for it in one task.",
        "versions": [VERSION],
        "integrations": [
            {"integration-name": spec.display_name, "external-doc-url": spec.doc_url, "tags": ["service"]}
            for spec in specs
        ]
        # the shared trigger and sensor base: waiting in the triggerer is Airflow's deferral
        + [
            {
                "integration-name": "Import Status",
                "external-doc-url": "https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/deferring.html",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": spec.display_name, "python-modules": [_module(spec.hook_class_name)]} for spec in specs
        ],
        "operators": [
            {"integration-name": spec.display_name, "python-modules": [_module(operator)]}
            for spec in specs
            if (operator := spec.operator_class_name)
        ],
        "sensors": [
            {"integration-name": spec.display_name, "python-modules": [_module(spec.sensor_class_name)]}
            for spec in specs
        ],
        "triggers": [
            {
                "integration-name": "Import Status",
                "python-modules": ["airflow_import_status.triggers.import_status"],
            }
        ],
        "extra-links": ["airflow_import_status.sensors.base.ImportConsoleLink"],
        # loaded with [core] lazy_discover_providers = False; not an airflow.plugins entry point: the task
        # SDK's plugin loader (3.3.2) stops at the first plugin it sees twice, and an editable checkout
        # on sys.path shows this package's entry points twice, so OpenLineage's listener was lost
        "plugins": [
            {"name": "import_status", "plugin-class": "airflow_import_status.plugins.import_status.ImportStatusPlugin"}
        ],
        "connection-types": [spec.connection_type() for spec in specs],
    }


class _Named(str):
    """A value the generated module reads from a name (its single source) instead of repeating it."""

    source: str

    def __new__(cls, value: str, source: str) -> _Named:
        named = super().__new__(cls, value)
        named.source = source
        return named


VERSION = _Named(__version__, "__version__")


def _literal(value: Any, indent: str = "") -> str:
    """``value`` as Python source, one item per line (ruff format keeps it: trailing commas)."""
    inner = indent + "    "
    if isinstance(value, _Named):
        return value.source
    if isinstance(value, dict) and value:
        items = "".join(f"{inner}{_literal(k)}: {_literal(v, inner)},\n" for k, v in value.items())
        return "{\n" + items + indent + "}"
    if isinstance(value, list) and value:
        return "[\n" + "".join(f"{inner}{_literal(v, inner)},\n" for v in value) + indent + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def provider_info_module(specs: Sequence[VendorSpec[Any, Any]]) -> str:
    return (
        '"""Provider metadata read by Airflow\'s ProvidersManager (entry point ``apache_airflow_provider``).\n\n'
        "Generated by ``python dev/docgen.py`` from the vendor registry (each spec's connection schema and\n"
        "``VendorClasses``); do not edit. ``dev/docgen.py --check`` and a test keep it equal to the registry.\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        "from typing import Any\n\n"
        "from airflow_import_status import __version__\n\n\n"
        "def get_provider_info() -> dict[str, Any]:\n"
        f"    return {_literal(provider_info(specs), '    ')}\n"
    )


def _replace_block(text: str, name: str, body: str, path: Path) -> str:
    begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
    head, found, rest = text.partition(begin)
    if not found:
        raise ValueError(f"{path.name} has no {begin} marker")
    _, found, tail = rest.partition(end)
    if not found:
        raise ValueError(f"{path.name} has no {end} marker")
    return f"{head}{begin}\n{body}\n{end}{tail}"


def expected_files() -> dict[Path, str]:
    """Every generated file and the text the registry produces for it."""
    specs = builtin_specs()
    bodies = {
        "vendors": vendors_table(specs),
        "mapping": mapping_table(specs),
        "connections": connections_section(specs),
        "lineage": lineage_table(specs),
    }
    files: dict[Path, str] = {}
    for path, names in BLOCKS.items():
        text = path.read_text()
        for name in names:
            text = _replace_block(text, name, bodies[name], path)
        files[path] = text
    files[PROVIDER_INFO] = provider_info_module(specs)
    files.update({VENDOR_DOCS / f"{spec.key}.md": vendor_page(spec) for spec in specs})
    return files


def stale_files() -> list[Path]:
    return [path for path, text in expected_files().items() if not path.exists() or path.read_text() != text]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)} (run python dev/docgen.py)")
        return 1 if stale else 0
    VENDOR_DOCS.mkdir(parents=True, exist_ok=True)
    for path, text in expected_files().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
