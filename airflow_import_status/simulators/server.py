"""Run the simulators: in a background thread (tests) or as a process (demo, benchmarks)."""

from __future__ import annotations

import argparse
import asyncio
import threading
from typing import Any

import requests
import uvicorn

from airflow_import_status.simulators import simulator_classes
from airflow_import_status.simulators.core import SimulatorState, build_app


class SimulatorServer:
    """The simulator app served by uvicorn on 127.0.0.1 in a daemon thread.

    ``port=0`` picks a free port; ``url`` is known once :meth:`start` returns.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any) -> None:
        config = uvicorn.Config(
            build_app(simulator_classes()), host=host, port=port, log_level="warning", lifespan="off", **uvicorn_options
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="vendor-simulator", daemon=True)
        self.host = host
        self.port = port
        self.scheme = "https" if uvicorn_options.get("ssl_certfile") else "http"

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> SimulatorServer:
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self._server.started:
                break
            deadline.wait(0.02)
        else:
            raise RuntimeError("the vendor simulator did not start")
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SimulatorClient:
    """The control API, for tests, the demo and benchmarks."""

    def __init__(self, base_url: str, verify: bool | str = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.verify = verify

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self.session.post(f"{self.base_url}/_sim/{path}", json=payload, timeout=10)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def create_job(self, vendor: str, **spec: Any) -> dict[str, Any]:
        """A scripted job; ``spec`` takes ``job_id``, ``params``, ``script``, ``counters``,
        ``polls``, ``fail``, ``started``, ``hidden_polls``."""
        return self._post("jobs", {"vendor": vendor, **spec})

    def job(self, vendor: str, job_id: str) -> dict[str, Any]:
        response = self.session.get(f"{self.base_url}/_sim/jobs/{vendor}/{job_id}", timeout=10)
        response.raise_for_status()
        job: dict[str, Any] = response.json()
        return job

    def jobs(self, vendor: str) -> list[dict[str, Any]]:
        """Every job the vendor's simulator holds (an upload through a start call creates one)."""
        response = self.session.get(f"{self.base_url}/_sim/jobs", params={"vendor": vendor}, timeout=10)
        response.raise_for_status()
        jobs: list[dict[str, Any]] = response.json()["jobs"]
        return jobs

    def add_fault(self, vendor: str, kind: str, **spec: Any) -> None:
        self._post("faults", {"vendor": vendor, "kind": kind, **spec})

    def requests(self, vendor: str) -> list[dict[str, Any]]:
        response = self.session.get(f"{self.base_url}/_sim/requests", params={"vendor": vendor}, timeout=10)
        response.raise_for_status()
        log: list[dict[str, Any]] = response.json()[vendor]
        return log

    def reset(self) -> None:
        self._post("reset", {})

    def configure(self, *, latency: float) -> None:
        self._post("config", {"latency": latency})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve every vendor's fake import-status API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every vendor request")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--keyfile", help="private key of --certfile (PEM)")
    args = parser.parse_args(argv)
    state = SimulatorState()
    state.latency = args.latency
    app = build_app(simulator_classes(), state)
    tls = {"ssl_certfile": args.certfile, "ssl_keyfile": args.keyfile} if args.certfile else {}
    print(f"vendor simulators on {'https' if tls else 'http'}://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="off", **tls)
