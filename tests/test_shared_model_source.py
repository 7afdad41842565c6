import logging

import pytest
from cog import Secret

from shared.model_source import ModelSource, ModelSourceError
from shared.secrets import RedactSecrets, hf_token

SOURCE = ModelSource("org/model", "0" * 40, local_dir_env="TEST_MODEL_DIR", gated=True)


def test_local_dir_from_env_is_used(tiny_smollm3, monkeypatch):
    monkeypatch.setenv("TEST_MODEL_DIR", str(tiny_smollm3))
    assert SOURCE.resolve() == tiny_smollm3


def test_local_dir_without_model_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelSourceError, match="TEST_MODEL_DIR=.* holds no model"):
        SOURCE.resolve()


def test_gated_model_without_token_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TEST_MODEL_DIR", raising=False)
    with pytest.raises(ModelSourceError, match="org/model is gated: set HF_TOKEN"):
        SOURCE.resolve(token=None)


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
