"""Setups that cannot get their weights fail with a message that says why and what to do; nothing is downloaded."""

import pytest

from scripts.harness.cog_server import CogServer, CogServerError


@pytest.mark.parametrize(
    ("deployment", "repo", "local_dir_env"),
    [
        ("gemma3", "google/gemma-3-4b-it", "GEMMA3_MODEL_DIR"),
        ("flux-dev-txt2img", "black-forest-labs/FLUX.1-dev", "FLUX_MODEL_DIR"),
    ],
)
def test_missing_token_fails_setup_clearly(deployment, repo, local_dir_env, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    server = CogServer(deployment, {"DEVICE": "cpu", local_dir_env: ""})
    with pytest.raises(CogServerError) as failure:
        server.start(timeout=120)
    server.stop()
    assert f"{repo} is gated: set HF_TOKEN" in str(failure.value)


def test_a_model_folder_without_weights_fails_setup_with_the_reason(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "smollm3"}')
    server = CogServer("smollm3", {"DEVICE": "cpu", "SMOLLM3_MODEL_DIR": str(tmp_path)})
    with pytest.raises(CogServerError) as failure:
        server.start(timeout=120)
    server.stop()
    assert "holds a model config but no weight files" in str(failure.value)
