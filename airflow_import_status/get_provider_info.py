"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

_TRANSPORT_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Request timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": 30},
    },
    "verify_ssl": {
        "label": "Verify TLS certificates",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "ca_bundle": {
        "label": "CA bundle path (private CAs)",
        "schema": {"type": ["string", "null"]},
    },
}


def _fields(**fields: Any) -> dict[str, Any]:
    return {**fields, **_TRANSPORT_FIELDS}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-import-status",
        "name": "Import Status",
        "description": "Deferrable sensors that wait for contact-import jobs at marketing and contact-center vendors "
        "(Which50, MailUp, PossibleNOW MyPreferences, Huawei CC-iSales, Blackbaud Luminate).",
        "versions": ["0.1.0"],
        "integrations": [
            {"integration-name": "Import Status", "external-doc-url": "https://github.com/", "tags": ["service"]}
        ],
        "hooks": [
            {
                "integration-name": "Import Status",
                "python-modules": [
                    "airflow_import_status.hooks.which50",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Import Status",
                "python-modules": [
                    "airflow_import_status.sensors.which50",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "Import Status",
                "python-modules": ["airflow_import_status.triggers.import_status"],
            }
        ],
        "extra-links": ["airflow_import_status.sensors.base.ImportConsoleLink"],
        "connection-types": [
            {
                "hook-class-name": "airflow_import_status.hooks.which50.Which50Hook",
                "hook-name": "Which50",
                "connection-type": "which50",
                "conn-fields": _fields(
                    auth_header={
                        "label": "API key header name",
                        "schema": {"type": ["string", "null"], "default": "X-Api-Key"},
                    },
                    auth_scheme={
                        "label": "API key scheme (e.g. Bearer; empty for the bare key)",
                        "schema": {"type": ["string", "null"], "default": ""},
                    },
                    response_format={
                        "label": "Response format",
                        "schema": {"type": ["string", "null"], "enum": ["json", "xml", None], "default": "json"},
                    },
                    success_statuses={
                        "label": "Success statuses (comma-separated)",
                        "schema": {"type": ["string", "null"]},
                    },
                    failure_statuses={
                        "label": "Failure statuses (comma-separated)",
                        "schema": {"type": ["string", "null"]},
                    },
                    console_url={
                        "label": "Console URL template",
                        "schema": {"type": ["string", "null"], "default": "https://app.which50.com/"},
                    },
                ),
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {"host": "API base URL", "password": "API key"},
                    "placeholders": {"host": "https://app.which50.com/Which50API"},
                },
            },
        ],
    }
