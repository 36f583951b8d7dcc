"""ISalesHook: read Huawei CC-iSales data-file import tasks (the vendor's knowledge is in ``vendors/isales/``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any

from airflow_import_status.hooks.base import ImportStatusHook
from airflow_import_status.vendors.isales.codec import CODEC, ISalesSettings
from airflow_import_status.vendors.isales.spec import SPEC, ISalesJob
from airflow_import_status.vendors.spec import ConnectionValues


class ISalesHook(ImportStatusHook[ISalesSettings, ISalesJob]):
    """Read CC-iSales blacklist and outbound-call data file import tasks.

    Connection (type ``isales``): host (+ port) = ``https://ip:port`` of the CC-iSales server,
    login = AK, password = SK; the extras are in the form. ``get_import_status(vdn_id,
    import_task_id, campaign_id=None)``: a campaign selects the call-data import.

    :param clock: returns the current time for signatures (tests pass a fixed clock).
    """

    spec = SPEC

    def __init__(self, *args: Any, clock: Callable[[], datetime] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def _settings_variant(self) -> Hashable:
        return self.clock

    def _build_settings(self, values: ConnectionValues) -> ISalesSettings:
        settings = super()._build_settings(values)
        return settings if self.clock is None else dataclasses.replace(settings, clock=self.clock)

    def upload_import_file(
        self, vdn_id: int | str, file_name: str, content: str, campaign_id: str | None = None
    ) -> str:
        """Upload a data file to the **simulator-only** import endpoint; return the import task id.

        CC-iSales documents no such call on its pages; this exists for the demo and tests.
        """
        settings = self.get_settings()
        task_id: str = self.run_flow(CODEC.upload_flow(settings, vdn_id, file_name, content, campaign_id), settings)
        return task_id
