"""Test-only ways of talking to a Cog server: async predictions with webhooks, cancellation, reading text output."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from scripts.harness.cog_server import CogServer


def predict_async(server: CogServer, inputs: dict, webhook: str) -> str:
    """Start a prediction that reports to `webhook`; returns its id."""
    response = requests.post(
        f"{server.url}/predictions",
        json={"input": inputs, "webhook": webhook},
        headers={"Prefer": "respond-async"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def cancel(server: CogServer, prediction_id: str) -> requests.Response:
    return requests.post(f"{server.url}/predictions/{prediction_id}/cancel", timeout=30)


def output_text(prediction: dict) -> str:
    """A streamed text prediction's output is a list of pieces; the answer is their concatenation."""
    return "".join(prediction.get("output") or [])


class WebhookReceiver:
    """Collects the webhook calls Cog makes for async predictions, on a loopback port."""

    def __init__(self):
        self.calls: list[dict] = []
        received = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, condition, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in list(self.calls):
                if condition(call):
                    return call
            time.sleep(0.05)
        raise TimeoutError(f"no matching webhook call in {timeout}s; got {[c.get('status') for c in self.calls]}")

    def close(self) -> None:
        self.server.shutdown()
