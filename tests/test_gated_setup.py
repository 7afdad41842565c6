"""A gated model with no token fails setup with a message that says what to do; nothing is downloaded."""

import pytest

from scripts.cog_server import CogServer, CogServerError


@pytest.mark.parametrize(("deployment", "repo"), [("gemma3", "google/gemma-3-4b-it")])
def test_missing_token_fails_setup_clearly(deployment, repo, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    server = CogServer(deployment, {"DEVICE": "cpu", "GEMMA3_MODEL_DIR": ""})
    with pytest.raises(CogServerError) as failure:
        server.start(timeout=120)
    server.stop()
    assert f"{repo} is gated: set HF_TOKEN" in str(failure.value)
