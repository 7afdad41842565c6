"""Run a deployment under the real Cog server (coglet) on a loopback port, and talk to it over HTTP.

This is how the container runs a predictor, minus Docker: the tests, the demo and the smoke checks
all go through it. The predictor imports `shared` from the repo root, as it does from the staged copy
inside the image.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

from scripts.harness.deployment_predictor import image_environment

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENTS = REPO / "deployments"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def image_concurrency(deployment: Path) -> dict[str, str]:
    """COG_MAX_CONCURRENCY as `cog build` bakes it into the image; nothing for a predictor that wouldn't build."""
    from scripts.cog_schema import StaticSchemaError, analyze_deployment, baked_concurrency

    try:
        return {"COG_MAX_CONCURRENCY": str(baked_concurrency(analyze_deployment(deployment)))}
    except StaticSchemaError:
        return {}


class CogServerError(RuntimeError):
    pass


class CogServer:
    def __init__(self, deployment: str | Path, env: dict[str, str] | None = None):
        self.deployment = Path(deployment) if Path(deployment).is_dir() else DEPLOYMENTS / str(deployment)
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix=f"cog-{self.deployment.name}-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "CogServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 600) -> None:
        # Without .cog/openapi_schema.json coglet validates nothing, answers /openapi.json with 503
        # and refuses SSE: write it from the predictor, as `cog build` does.
        # The schema depends on predict.py's declarations alone: regenerate it (~6 s of imports) only when
        # predict.py is newer than the last one written.
        schema, predictor = self.deployment / ".cog" / "openapi_schema.json", self.deployment / "predict.py"
        if not schema.is_file() or schema.stat().st_mtime < predictor.stat().st_mtime:
            subprocess.run(
                [sys.executable, "-m", "scripts.openapi_schema", str(self.deployment), "--server-only"],
                cwd=REPO, check=True, capture_output=True,
            )
        config = yaml.safe_load((self.deployment / "cog.yaml").read_text())
        env = {
            # The built image's ENV: the cog CLI bakes the predictor's @concurrent(max=N) in (scripts/cog_schema).
            **image_concurrency(self.deployment),
            **os.environ,
            # coglet starts its worker with the `python` on PATH: make it this interpreter.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO),
            "PORT": str(self.port),
            "COG_PREDICT_TYPE_STUB": config.get("run") or config["predict"],
            **image_environment(self.deployment),
            # Weights a developer baked with `make weights-<name>` must not shadow the tests' tiny models.
            "WEIGHTS_DIR": str(REPO / ".cache" / "no-baked-weights"),
            **self.env,
        }
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cog.server.http", "--host", "127.0.0.1"],
                cwd=self.deployment, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends coglet, its worker and theirs
            )
        self.wait_until_ready(timeout)

    def wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CogServerError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                status = self.health()["status"]
            except requests.ConnectionError:
                status = "STARTING"
            if status == "READY":
                return
            if status not in ("STARTING", "BUSY"):
                raise CogServerError(f"server is {status}:\n{self.health()}\n{self.log_tail()}")
            time.sleep(0.5)
        raise CogServerError(f"server not READY after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """End the server and every process it started. A test server holds nothing worth a graceful exit, and
        coglet's takes ~3 s (its worker's interpreter shutdown), once per server the suite starts."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # the whole group may have exited since poll()
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def health(self) -> dict:
        return requests.get(f"{self.url}/health-check", timeout=10).json()

    def post(
        self, inputs: dict, headers: dict | None = None, timeout: float = 600, stream: bool = False
    ) -> requests.Response:
        """POST /predictions. A 409 means the one slot is still being released after the last
        prediction (coglet answers before it frees it): retry briefly, as a client would."""
        deadline = time.monotonic() + 30
        while True:
            response = requests.post(
                f"{self.url}/predictions", json={"input": inputs}, headers=headers, timeout=timeout,
                stream=stream,
            )
            if response.status_code != 409 or time.monotonic() > deadline:
                return response
            time.sleep(0.1)

    def predict(self, **inputs) -> dict:
        """A synchronous prediction; returns the response body (check its `status`)."""
        response = self.post(inputs)
        response.raise_for_status()
        return response.json()

    def stream(self, **inputs) -> list[tuple[str, dict]]:
        """A prediction over server-sent events; returns every (event, data) pair in order."""
        events, event = [], None
        with self.post(inputs, headers={"Accept": "text/event-stream"}, stream=True) as response:
            response.raise_for_status()
            response.encoding = "utf-8"  # SSE is UTF-8; requests would guess ISO-8859-1 without a charset
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event:
                    events.append((event, json.loads(line.split(":", 1)[1])))
        return events
