"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Derived from the vendor registry: each vendor's connection type, conn-fields and UI field
behaviour come from its spec's connection schema (``vendors/<key>/spec.py``); a vendor's
start-import operator is listed when its module exists (``operators/<key>.py``, the spec's
class convention).
"""

from __future__ import annotations

from typing import Any

from airflow_import_status import __version__
from airflow_import_status.vendors import builtin_specs


def _module(class_name: str) -> str:
    return class_name.rpartition(".")[0]


def get_provider_info() -> dict[str, Any]:
    specs = builtin_specs()
    return {
        "package-name": "airflow-import-status",
        "name": "Import Status",
        "description": "Deferrable sensors that wait for contact-import jobs at marketing and contact-center vendors "
        "(Which50, MailUp, PossibleNOW MyPreferences, Huawei CC-iSales, Blackbaud Luminate), and operators that "
        "upload the contacts, start the import and wait for it in one task.",
        "versions": [__version__],
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
