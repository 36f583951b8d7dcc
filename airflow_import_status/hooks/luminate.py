"""LuminateHook: read Luminate Online address book imports (the vendor's knowledge is in ``vendors/luminate/``)."""

from __future__ import annotations

from airflow_import_status.hooks.base import ImportStatusHook
from airflow_import_status.vendors.luminate.codec import CODEC, LuminateImportStart, LuminateSettings
from airflow_import_status.vendors.luminate.spec import SPEC, LuminateJob


class LuminateHook(ImportStatusHook[LuminateSettings, LuminateJob]):
    """Read Luminate Online address-book import jobs (Client API ``CRAddressBookAPI``).

    Connection (type ``luminate``): host = site base URL (``https://secure2.convio.net/{organization}``),
    extra ``api_key``; either extra ``sso_auth_token`` (or ``auth_token``) holding a fixed token, or
    login/password of a constituent the hook logs in as; the other extras are in the form.
    ``get_import_status(import_job_id, count_contacts=None)``.
    """

    spec = SPEC

    def start_import(self, import_source: str = "GOOGLE", callback_url: str = "") -> LuminateImportStart:
        """Start an online address book import (GOOGLE or YAHOO) for the logged-in constituent.

        The constituent must then grant access at ``oauth_url``; the provider calls
        ``callback_url`` and Luminate downloads the contacts. Hand ``job_id`` to
        :class:`~airflow_import_status.sensors.luminate.LuminateImportSensor`.
        """
        settings = self.get_settings()
        started: LuminateImportStart = self.run_flow(
            CODEC.start_import_flow(settings, import_source, callback_url), settings
        )
        return started
