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
                    "airflow_import_status.hooks.luminate",
                    "airflow_import_status.hooks.isales",
                    "airflow_import_status.hooks.mailup",
                    "airflow_import_status.hooks.mypreferences",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Import Status",
                "python-modules": [
                    "airflow_import_status.sensors.which50",
                    "airflow_import_status.sensors.luminate",
                    "airflow_import_status.sensors.isales",
                    "airflow_import_status.sensors.mailup",
                    "airflow_import_status.sensors.mypreferences",
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
        "plugins": [
            {"name": "import_status", "plugin-class": "airflow_import_status.plugins.import_status.ImportStatusPlugin"}
        ],
        "connection-types": [
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
                "hook-class-name": "airflow_import_status.hooks.which50.Which50Hook",
                "hook-name": "Which50",
                "connection-type": "which50",
                "conn-fields": _fields(
                    key_header={
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
        ],
    }
