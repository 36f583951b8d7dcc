"""Starting a sensor's wait in the triggerer (``start_from_trigger``, Airflow 3.3+): no worker run at all.

The task's trigger arguments are fixed when the DAG is parsed (``StartTriggerArgs``), so they
hold the job fields and the connection id under the sensor's own attribute names: the 3.3
triggerer renders exactly the task's ``template_fields`` found among them before ``run``.
The deadline is then counted from the task's start in the triggerer; Airflow's own trigger
timeout (``StartTriggerArgs.timeout``, absolute from the deferral) is the backstop across a
triggerer restart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import StartTriggerArgs, TriggerEvent

from airflow_import_status.triggers.import_status import ImportStatusTrigger
from airflow_import_status.vendors import get_spec

if TYPE_CHECKING:
    from airflow_import_status.outcome import TriggerEnd
    from airflow_import_status.polling import PollPolicy
    from airflow_import_status.vendors.spec import VendorSpec

DEFERRAL_TIMEOUT_MARGIN = timedelta(minutes=5)
"""Airflow's own deferral timeout sits this far past the trigger's deadline, as a backstop."""


class ImportStatusStartTrigger(ImportStatusTrigger):
    """:class:`ImportStatusTrigger` as a ``start_from_trigger`` sensor starts it, from parse-time arguments.

    :param vendor: the vendor's registry key.
    :param policy: :class:`~airflow_import_status.polling.PollPolicy` fields.
    :param timeout: the sensor's timeout in seconds, counted from the start in the triggerer.
    :param end: :class:`~airflow_import_status.outcome.TriggerEnd` fields.
    :param fields: the vendor's job fields and its connection-id parameter, by the sensor's names (templated).
    """

    def __init__(
        self, *, vendor: str, policy: dict[str, float], timeout: float | None, end: dict[str, Any], **fields: Any
    ) -> None:
        spec = get_spec(vendor)
        names = (*spec.job_type.field_names(), spec.conn_id_param)
        unknown = sorted(set(fields) - set(names))
        if unknown:
            raise TypeError(f"ImportStatusStartTrigger for {vendor!r} got unknown field(s) {unknown}")
        super().__init__(vendor=vendor, conn_id="", job={}, policy=policy, deadline=None, waiting_since=0.0, end=end)
        self.timeout = timeout
        self.field_names = names
        for name in names:
            setattr(self, name, fields.get(name))

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "vendor": self.vendor,
                "policy": self.policy,
                "timeout": self.timeout,
                "end": self.end,
                **{name: getattr(self, name) for name in self.field_names},
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        spec = get_spec(str(self.vendor))
        self.conn_id = getattr(self, spec.conn_id_param) or spec.default_conn_id
        self.job = {name: getattr(self, name) for name in spec.job_type.field_names()}
        started = getattr(self.task_instance, "start_date", None)
        self.waiting_since = started.timestamp() if started is not None else time.time()
        self.deadline = self.waiting_since + self.timeout if self.timeout else None
        async for event in super().run():
            yield event


def start_from_trigger_args(
    spec: VendorSpec[Any, Any], fields: Mapping[str, Any], *, policy: PollPolicy, timeout: float | None, end: TriggerEnd
) -> StartTriggerArgs:
    """The ``start_trigger_args`` of a vendor sensor with ``start_from_trigger=True``.

    :param fields: the sensor's job fields and connection-id parameter, by its names (templated by the triggerer).
    :param timeout: the sensor's timeout in seconds.
    """
    return StartTriggerArgs(
        trigger_cls=f"{ImportStatusStartTrigger.__module__}.{ImportStatusStartTrigger.__qualname__}",
        trigger_kwargs={
            "vendor": spec.key,
            "policy": policy.to_dict(),
            "timeout": timeout,
            "end": end.to_dict(),
            **fields,
        },
        next_method="execute_complete",
        next_kwargs=None,
        timeout=timedelta(seconds=timeout) + DEFERRAL_TIMEOUT_MARGIN if timeout else None,
    )
