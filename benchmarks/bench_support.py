"""What the benchmarks share: a TLS certificate, the simulator process, a loop watchdog, RSS.

Not part of the provider: run through ``benchmarks/*.py`` (``make bench``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[1]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost; the hooks trust it as ``ca_bundle``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airflow-import-status benchmark")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "simulator.crt", directory / "simulator.key"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certfile, keyfile


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SimulatorProcess:
    """``python -m airflow_import_status.simulators`` over HTTPS on 127.0.0.1, in its own process."""

    def __init__(self, certfile: Path, keyfile: Path) -> None:
        self.certfile = certfile
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.control = requests.Session()
        command = [sys.executable, "-m", "airflow_import_status.simulators", "--port", str(self.port)]
        self._process = subprocess.Popen(
            [*command, "--certfile", str(certfile), "--keyfile", str(keyfile)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # a client that gives up at a run's cut logs a traceback there
        )

    def wait_ready(self, timeout: float = 30.0) -> SimulatorProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the simulator exited with code {self._process.returncode}")
            try:
                self.post("reset", {})
                return self
            except requests.exceptions.SSLError:
                raise
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the simulator did not start")

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        # verify per request: a session-level path loses to REQUESTS_CA_BUNDLE from the environment
        response = self.control.post(f"{self.url}/_sim/{path}", json=payload, timeout=60, verify=str(self.certfile))
        response.raise_for_status()
        return response.json()

    def get(self, path: str, params: dict[str, str]) -> Any:
        response = self.control.get(f"{self.url}/_sim/{path}", params=params, timeout=60, verify=str(self.certfile))
        response.raise_for_status()
        return response.json()

    def cpu_seconds(self) -> float:
        """CPU time the simulator process has used so far (user + system)."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def connection_env(base_url: str, ca_bundle: Path) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` for every simulator, trusting the benchmark's certificate."""
    from airflow_import_status.simulators import simulator_classes

    env = {}
    for simulator in simulator_classes():
        connection = simulator.connection(base_url)
        extra = connection.get("extra") or {}
        extra = json.loads(extra) if isinstance(extra, str) else dict(extra)
        connection["extra"] = {**extra, "ca_bundle": str(ca_bundle)}
        env[f"AIRFLOW_CONN_{simulator.conn_id.upper()}"] = json.dumps(connection)
    return env


def rss_kib(field: str = "VmRSS") -> int:
    """This process's resident set (``VmRSS``) or its peak (``VmHWM``), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


class LoopWatchdog:
    """Sleeps ``tick`` seconds in a loop; the overshoot of each sleep is how long the loop stalled.

    Also samples RSS, so the peak during a run can be compared to the RSS before it.
    """

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.longest_stall = 0.0
        self.stalls_over_50ms = 0
        self.max_rss_kib = 0
        self.longest_gc_pause = 0.0
        self.timeline: list[tuple[str, float, float]] = []
        """("stall" | "gc<generation>", seconds since start, duration) of every pause over 30 ms."""
        self._gc_started = 0.0
        self._began = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    def _gc_callback(self, phase: str, info: dict[str, int]) -> None:
        """Times the garbage collector's pauses: the usual cause of a stall no coroutine made."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_started
            self.longest_gc_pause = max(self.longest_gc_pause, pause)
            if pause > 0.03:
                self.timeline.append((f"gc{info['generation']}", self._gc_started - self._began, pause))

    async def _watch(self) -> None:
        rss_every = max(1, int(0.25 / self.tick))
        for beat in range(10**9):
            before = time.perf_counter()
            await asyncio.sleep(self.tick)
            stall = time.perf_counter() - before - self.tick
            self.longest_stall = max(self.longest_stall, stall)
            if stall > 0.03:
                self.timeline.append(("stall", before - self._began, stall))
            self.stalls_over_50ms += stall > 0.05
            if beat % rss_every == 0:
                self.max_rss_kib = max(self.max_rss_kib, rss_kib())

    def start(self) -> None:
        self._began = time.perf_counter()
        gc.callbacks.append(self._gc_callback)
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        gc.callbacks.remove(self._gc_callback)
        self.max_rss_kib = max(self.max_rss_kib, rss_kib())


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]
