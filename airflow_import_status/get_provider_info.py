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
        "hook-class-name": "airflow_import_status.hooks.mypreferences.MyPreferencesHook",
        "hook-name": "PossibleNOW MyPreferences",
        "connection-type": "mypreferences",
        "conn-fields": _fields(
            client_id={
                "label": "MyPreferences clientId (account)",
                "schema": {"type": "string"},
            },
            auth_type={
                "label": "Auth scheme",
                "schema": {"type": ["string", "null"], "enum": ["oauth2", "hmac", None], "default": "oauth2"},
            },
            user_id={
                "label": "MyPreferences user id (OAuth2 scope ClientId/UserId; HMAC: defaults to login)",
                "schema": {"type": ["string", "null"]},
            },
            oauth_endpoint={
                "label": "OAuth2 token URL (absolute or relative to the host, inferred)",
                "schema": {"type": ["string", "null"], "default": "Profiles/oauth/token"},
            },
            scope={
                "label": "OAuth2 scope (default ClientId/UserId)",
                "schema": {"type": ["string", "null"]},
            },
            status_path={
                "label": "Status path template (inferred)",
                "schema": {
                    "type": ["string", "null"],
                    "default": "Profiles/Async/{clientId}/Import/{accessToken}",
                },
            },
            check_path={
                "label": "Connection test path template",
                "schema": {"type": ["string", "null"], "default": "Profiles/v4/{clientId}/Programs"},
            },
            hmac_string_to_sign={
                "label": "HMAC string to sign (inferred)",
                "schema": {"type": ["string", "null"], "default": "{client_id}:{user_id}:{timestamp}"},
            },
            hmac_hash={
                "label": "HMAC hash",
                "schema": {
                    "type": ["string", "null"],
                    "enum": ["sha256", "sha384", "sha512", None],
                    "default": "sha256",
                },
            },
            success_statuses={
                "label": "Extra success statuses (comma-separated)",
                "schema": {"type": ["string", "null"]},
            },
            failure_statuses={
                "label": "Extra failure statuses (comma-separated)",
                "schema": {"type": ["string", "null"]},
            },
            console_url={
                "label": "Console URL template ({clientId}, {accessToken})",
                "schema": {"type": ["string", "null"]},
            },
        ),
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {
                "host": "API host",
                "login": "OAuth2 client id / HMAC user id",
                "password": "OAuth2 client secret / HMAC secret",
            },
            "placeholders": {"host": "https://pm.mypreferences.com (staging: https://pmstg.mypreferences.com)"},
        },
    },
]
"""Vendors not yet declared as a spec (moving to ``vendors/<key>/``)."""

_LEGACY_MODULES = ("mypreferences",)


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
        ]
        + [
            {
                "integration-name": "Import Status",
                "python-modules": [f"airflow_import_status.hooks.{name}" for name in _LEGACY_MODULES],
            }
        ],
        "sensors": [
            {"integration-name": spec.display_name, "python-modules": [_module(spec.sensor_class_name)]}
            for spec in specs
        ]
        + [
            {
                "integration-name": "Import Status",
                "python-modules": [f"airflow_import_status.sensors.{name}" for name in _LEGACY_MODULES],
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
