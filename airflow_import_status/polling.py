"""The one retry and waiting policy, shared by the sensor (poke/reschedule) and the trigger.

Both loops ask :meth:`PollPolicy.after_error` what an error means; the answer is data
(wait, retry after a delay, or give up with a message), so the decision is written once.
"""

from __future__ import annotations

import enum
import functools
import random
import time
from dataclasses import asdict, dataclass

from airflow_import_status.errors import (
    ImportStatusError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
)


class ErrorAction(enum.StrEnum):
    WAIT = "wait"
    """The job is not visible yet (within the not-found grace): keep waiting normally."""
    RETRY = "retry"
    """A transient fault: try again after a backoff delay."""
    FAIL = "fail"
    """Permanent fault, or too many transient faults in a row: stop."""


@dataclass(frozen=True, slots=True)
class ErrorDecision:
    action: ErrorAction
    delay: float
    message: str
    retryable_task: bool = False
    """For FAIL: whether Airflow task retries may help (True after transient faults)."""


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How often to poll and how to ride out faults. All times in seconds."""

    poll_interval: float = 60.0
    max_consecutive_failures: int = 5
    backoff_initial: float = 5.0
    backoff_max: float = 300.0
    not_found_grace: float = 60.0

    def __post_init__(self) -> None:
        if self.poll_interval < 0 or self.backoff_initial < 0 or self.backoff_max < 0 or self.not_found_grace < 0:
            raise ValueError("poll_interval, backoff and not_found_grace must be non-negative")
        if self.max_consecutive_failures < 1:
            raise ValueError("max_consecutive_failures must be at least 1")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> PollPolicy:
        """The policy from trigger kwargs (JSON numbers): one shared instance per distinct policy."""
        return _shared_policy(
            float(data["poll_interval"]),
            int(data["max_consecutive_failures"]),
            float(data["backoff_initial"]),
            float(data["backoff_max"]),
            float(data["not_found_grace"]),
        )

    def backoff(self, failures: int) -> float:
        """Exponential backoff with full jitter in its upper half: [d/2, d], d = initial*2^(n-1)."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** max(0, failures - 1))
        return random.uniform(ceiling / 2, ceiling)

    def after_error(
        self,
        error: ImportStatusError,
        *,
        failures: int,
        waited: float,
        job_label: str,
    ) -> ErrorDecision:
        """Decide what ``error`` means.

        :param failures: consecutive transient failures, this one included.
        :param waited: seconds since the sensor started waiting (for the not-found grace).
        """
        if isinstance(error, JobNotFoundError) and waited < self.not_found_grace:
            return ErrorDecision(
                ErrorAction.WAIT,
                min(self.poll_interval, max(0.0, self.not_found_grace - waited)) or self.poll_interval,
                f"{job_label} not found yet; waiting up to {self.not_found_grace:.0f}s for it to appear: {error}",
            )
        if isinstance(error, PermanentVendorError) or not isinstance(error, TransientVendorError):
            return ErrorDecision(ErrorAction.FAIL, 0.0, f"{job_label}: {error}")
        if failures >= self.max_consecutive_failures:
            return ErrorDecision(
                ErrorAction.FAIL,
                0.0,
                f"{job_label}: gave up after {failures} consecutive transient failures; last error: {error}",
                retryable_task=True,
            )
        delay = self.backoff(failures)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self.backoff_max))
        return ErrorDecision(
            ErrorAction.RETRY,
            delay,
            f"{job_label}: transient failure {failures}/{self.max_consecutive_failures}, "
            f"retrying in {delay:.1f}s: {error}",
        )


@functools.lru_cache(maxsize=1024)
def _shared_policy(
    poll_interval: float,
    max_consecutive_failures: int,
    backoff_initial: float,
    backoff_max: float,
    not_found_grace: float,
) -> PollPolicy:
    """Frozen, so the triggers of one policy share one instance instead of one each."""
    return PollPolicy(poll_interval, max_consecutive_failures, backoff_initial, backoff_max, not_found_grace)


@dataclass(slots=True)
class PollTracker:
    """The bookkeeping one waiting sensor or trigger keeps between polls."""

    policy: PollPolicy
    job_label: str
    waiting_since: float
    """Epoch seconds when waiting started (kept across triggerer restarts and reschedules)."""
    failures: int = 0
    """Consecutive transient failures."""

    def succeeded(self) -> None:
        self.failures = 0

    def failed(self, error: ImportStatusError) -> ErrorDecision:
        if isinstance(error, TransientVendorError):
            self.failures += 1
        return self.policy.after_error(
            error, failures=self.failures, waited=time.time() - self.waiting_since, job_label=self.job_label
        )
