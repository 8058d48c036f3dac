"""Real Triptych processes for the scale-out tests: `triptych serve` and `triptych worker` as an operator
starts them, sharing one PostgreSQL database, one Chroma server and one data folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.servers import free_port


def process_env(database_url: str, chroma_url: str, data_dir: Path, token: str, **settings: Any) -> dict[str, str]:
    """The environment every process of one deployment shares (one secret: tokens and keys work in all)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "chroma_url": chroma_url,
        "data_dir": data_dir,
        "secret_key": "1KoPfI_QCWb2vUfjYjhYavsF8gsZj4UsD7fJd95NIhM=",  # a Fernet key (TRIPTYCH_SECRET_KEY)
        "api_token": token,
        "serve_local_model": "false",
        "local_model_url": "http://127.0.0.1:9/v1",
        "load_demo": "false",
        "demo_finetune": "false",
    } | settings
    return os.environ | {f"TRIPTYCH_{k.upper()}": str(v) for k, v in values.items()}


class TriptychProcess:
    """One `python -m app.cli ...` process; its output goes to a log file the test can show on failure."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path, *, web: bool):
        self.name = name
        self.port = free_port() if web else None
        extra = ["--port", str(self.port)] if web else []
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args, *extra],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}" if web else ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120.0) -> TriptychProcess:
        """A web process answers /healthz; a worker has said it is working."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            if self.url:
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
            elif "working " in self.log():
                return self
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not become ready:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine or the OOM killer takes a worker."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self._log.close()
