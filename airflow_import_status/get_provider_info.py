"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Derived from the vendor registry: each vendor's connection type, conn-fields and UI field
behaviour come from its spec's connection schema (``vendors/<key>/spec.py``).
"""

from __future__ import annotations

from typing import Any

from airflow_import_status.vendors import builtin_specs

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


_LEGACY_CONNECTION_TYPES: list[dict[str, Any]] = [
    {
        "hook-class-name": "airflow_import_status.hooks.mailup.MailUpHook",
        "hook-name": "MailUp",
        "connection-type": "mailup",
        "conn-fields": _fields(
            timezone={
                "label": "Account timezone (IANA name)",
                "schema": {"type": ["string", "null"], "default": "Europe/Rome"},
            },
            soap_namespace={
                "label": "SOAP header namespace (http://tempuri.org/ for older accounts)",
                "schema": {"type": ["string", "null"], "default": "http://ws.mailupnet.it/"},
            },
            enc_type={
                "label": "encType header value (empty: omit)",
                "schema": {"type": ["string", "null"]},
            },
        ),
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "Console URL", "login": "API user", "password": "API password"},
            "placeholders": {"host": "https://a1b2c3.s99.it", "login": "a1234"},
        },
    },
    {
        "hook-class-name": "airflow_import_status.hooks.isales.ISalesHook",
        "hook-name": "Huawei CC-iSales",
        "connection-type": "isales",
        "conn-fields": _fields(
            signed_headers={
                "label": "Signed headers (';'-separated, inferred)",
                "schema": {"type": ["string", "null"], "default": "content-length;content-type;host"},
            },
            page_size={
                "label": "Page size (limit, 1..100)",
                "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 100, "default": 100},
            },
            send_task_ids={
                "label": "Send importTaskIds (filter on the server)",
                "schema": {"type": ["boolean", "null"], "default": True},
            },
            transient_result_codes={
                "label": "Result codes to retry (comma-separated)",
                "schema": {"type": ["string", "null"]},
            },
            vdn_id={
                "label": "VDN id for the connection test",
                "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 9999, "default": 1},
            },
        ),
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "extra"],
            "relabeling": {"host": "Server (https://ip)", "login": "AK", "password": "SK"},
            "placeholders": {"host": "https://10.0.0.1", "port": "28090"},
        },
    },
    {
        "hook-class-name": "airflow_import_status.hooks.luminate.LuminateHook",
        "hook-name": "Luminate Online",
        "connection-type": "luminate",
        "conn-fields": _fields(
            api_key={
                "label": "API key (CONVIO_API_KEY)",
                "schema": {"type": "string", "format": "password"},
            },
            sso_auth_token={
                "label": "Fixed sso_auth_token (instead of login/password)",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            auth_token={
                "label": "Fixed auth token, sent as 'auth' (instead of login/password)",
                "schema": {"type": ["string", "null"], "format": "password"},
            },
            response_format={
                "label": "Response format",
                "schema": {"type": ["string", "null"], "enum": ["json", "xml", None], "default": "json"},
            },
            suppress_response_codes={
                "label": "Send suppress_response_codes=true (errors come back as HTTP 200)",
                "schema": {"type": ["boolean", "null"], "default": False},
            },
            count_contacts={
                "label": "On success, count the imported contacts (getAddressBookImportContacts)",
                "schema": {"type": ["boolean", "null"], "default": False},
            },
        ),
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {
                "host": "Site base URL",
                "login": "Constituent user name",
                "password": "Constituent password",
            },
            "placeholders": {"host": "https://secure2.convio.net/myorganization"},
        },
    },
]
"""Vendors not yet declared as a spec (moving to ``vendors/<key>/``)."""

_LEGACY_MODULES = ("luminate", "isales", "mailup")


def _module(class_name: str) -> str:
    return class_name.rpartition(".")[0]


def get_provider_info() -> dict[str, Any]:
    specs = builtin_specs()
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
                "python-modules": [_module(spec.hook_class_name) for spec in specs]
                + [f"airflow_import_status.hooks.{name}" for name in _LEGACY_MODULES],
            }
        ],
        "sensors": [
            {
                "integration-name": "Import Status",
                "python-modules": [_module(spec.sensor_class_name) for spec in specs]
                + [f"airflow_import_status.sensors.{name}" for name in _LEGACY_MODULES],
            }
        ],
        "triggers": [
            {
                "integration-name": "Import Status",
                "python-modules": ["airflow_import_status.triggers.import_status"],
            }
        ],
        "extra-links": ["airflow_import_status.sensors.base.ImportConsoleLink"],
        "connection-types": [spec.connection_type() for spec in specs] + _LEGACY_CONNECTION_TYPES,
    }
