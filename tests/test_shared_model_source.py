import dataclasses
import logging
import os
import shutil
from pathlib import Path

import pytest
from cog import Secret

from shared.common.model_source import ModelSource, ModelSourceError
from shared.common.secrets import RedactSecrets, hf_token
from shared.common.settings import RuntimeSettings

SOURCE = ModelSource("org/model", "0" * 40, local_dir_env="TEST_MODEL_DIR", gated=True,
                     revision_env="TEST_REVISION")


def resolve(token=None):
    """As a service's setup resolves it: the environment read once into RuntimeSettings."""
    return SOURCE.resolve(token, RuntimeSettings.from_env(os.environ))


def test_local_dir_from_env_is_used(tiny_smollm3, monkeypatch):
    monkeypatch.setenv("TEST_MODEL_DIR", str(tiny_smollm3))
    assert resolve() == tiny_smollm3


def bake(model_dir: Path, weights_root: Path, revision: str) -> Path:
    baked = weights_root / "org--model"
    shutil.copytree(model_dir, baked)
    (baked / ".revision").write_text(revision + "\n")
    return baked


def test_baked_weights_come_first_then_the_local_dir_then_the_hub(tiny_smollm3, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)  # the image's /src: predict.py's folder
    monkeypatch.delenv("WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("TEST_MODEL_DIR", str(tiny_smollm3))
    baked = bake(tiny_smollm3, tmp_path / "weights", SOURCE.revision)
    with caplog.at_level(logging.INFO):
        assert resolve().resolve() == baked.resolve()
    assert "baked into the image" in caplog.text
    shutil.rmtree(baked)
    assert resolve() == tiny_smollm3
    monkeypatch.delenv("TEST_MODEL_DIR")
    with pytest.raises(ModelSourceError, match="is gated: set HF_TOKEN"):  # reached the Hub step
        resolve(token=None)


def test_baked_weights_of_another_revision_are_not_used(tiny_smollm3, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TEST_MODEL_DIR", str(tiny_smollm3))
    bake(tiny_smollm3, tmp_path / "weights", "1" * 40)
    with caplog.at_level(logging.WARNING):
        assert resolve() == tiny_smollm3
    assert "ignoring baked weights" in caplog.text


def test_a_config_without_weights_says_so(tiny_smollm3, tmp_path, monkeypatch):
    broken = tmp_path / "no-weights"
    shutil.copytree(tiny_smollm3, broken, ignore=shutil.ignore_patterns("*.safetensors"))
    monkeypatch.setenv("TEST_MODEL_DIR", str(broken))
    with pytest.raises(ModelSourceError, match="holds a model config but no weight files"):
        resolve()


def test_local_dir_without_model_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelSourceError, match="TEST_MODEL_DIR=.* holds no model"):
        resolve()


def test_gated_model_without_token_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TEST_MODEL_DIR", raising=False)
    with pytest.raises(ModelSourceError, match="org/model is gated: set HF_TOKEN"):
        resolve(token=None)


def test_token_comes_from_secret_before_environment(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "from-env")
    assert hf_token(Secret("from-secret")) == "from-secret"
    assert hf_token(Secret("")) == "from-env"
    assert hf_token() == "from-env"
    monkeypatch.delenv("HF_TOKEN")
    assert hf_token() is None


def test_secrets_are_masked_in_log_records():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token is %s", ("hf_abc123",), None)
    RedactSecrets("hf_abc123", None).filter(record)
    assert record.getMessage() == "token is ***"


def test_settings_are_read_once_and_a_revision_override_follows_the_naming_scheme(tiny_smollm3, tmp_path):
    environ = {"TEST_MODEL_DIR": str(tiny_smollm3), "TEST_REVISION": "1" * 40, "WEIGHTS_DIR": str(tmp_path),
               "OUTPUT_DIR": str(tmp_path / "out"), "DEVICE": "cpu", "UNRELATED": "x"}
    runtime = RuntimeSettings.from_env(environ)
    environ["TEST_MODEL_DIR"] = "/nowhere"  # a later change to the environment is not seen
    assert runtime.model_dirs == {"TEST_MODEL_DIR": str(tiny_smollm3)}
    assert (runtime.device, runtime.output_dir, runtime.weights_dir) == ("cpu", tmp_path / "out", tmp_path)
    assert SOURCE.pinned(runtime).revision == "1" * 40
    assert SOURCE.pinned(RuntimeSettings()).revision == SOURCE.revision
    bake(tiny_smollm3, tmp_path, "1" * 40)  # baked at the overriding revision: used
    assert SOURCE.resolve(None, runtime) == tmp_path / "org--model"
    with pytest.raises(dataclasses.FrozenInstanceError):
        runtime.device = "cuda"
