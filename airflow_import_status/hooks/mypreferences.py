"""MyPreferencesHook: read PossibleNOW MyPreferences bulk imports (the vendor is in ``vendors/mypreferences/``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from airflow_import_status.hooks.base import ImportStatusHook
from airflow_import_status.vendors.mypreferences.codec import (
    CODEC,
    STAGE_BATCH_SIZE,
    ImportTokenWatch,
    MyPreferencesSettings,
)
from airflow_import_status.vendors.mypreferences.spec import SPEC, MyPreferencesJob


class MyPreferencesHook(ImportStatusHook[MyPreferencesSettings, MyPreferencesJob]):
    """Read PossibleNOW MyPreferences bulk imports.

    Connection (type ``mypreferences``): host = ``https://pm.mypreferences.com`` (production, the
    default) or ``https://pmstg.mypreferences.com`` (staging); extra ``client_id`` (the account
    clientId); ``auth_type`` ``oauth2`` (login/password = OAuth client id/secret, extra ``user_id``
    for the scope) or ``hmac`` (login/password = user id/secret); the other extras are in the form.
    Jobs: ``get_import_status(access_token, client_id=None)``.
    """

    spec = SPEC

    def _own_settings(self, shared: MyPreferencesSettings) -> MyPreferencesSettings:
        """The shared settings with this hook's own ImportTokenWatch (what it saw is freed with it)."""
        return dataclasses.replace(
            shared, import_tokens=ImportTokenWatch(shared.import_tokens.lifetime, shared.import_tokens.clock)
        )

    def start_import(self, profiles: list[dict[str, Any]], name: str, client_id: str | None = None) -> str:
        """Initiate a bulk import, stage ``profiles`` (BulkUserProfilePreferences) in batches and execute it.

        Returns the import access token to hand to :class:`MyPreferencesImportSensor`.
        """
        settings = self.get_settings()
        batches = (profiles[start : start + STAGE_BATCH_SIZE] for start in range(0, len(profiles), STAGE_BATCH_SIZE))
        token: str = self.run_flow(CODEC.start_import_flow(settings, name, batches, client_id), settings)
        return token
