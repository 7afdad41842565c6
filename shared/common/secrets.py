"""Secrets (Hugging Face and civitai tokens): read from a Cog `Secret` input or the environment, and masked in
every log line so neither our logs nor a library's can leak one."""

import logging
import os


def secret_value(secret=None, env_var: str = "HF_TOKEN") -> str | None:
    """The value of a Cog `Secret` input if one was given, else the environment variable `env_var`."""
    if secret is not None:
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
        if value:
            return value
    return os.environ.get(env_var) or None


def hf_token(secret=None) -> str | None:
    """The Hugging Face token from a `Secret` input if given, else from HF_TOKEN."""
    return secret_value(secret, "HF_TOKEN")


class RedactSecrets(logging.Filter):
    """Masks the given secrets in every log record that passes through a handler."""

    def __init__(self, *secrets: str | None):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


_REDACTOR = RedactSecrets()  # the one filter: setup's token and every token a request brings


def redact_in_logs(*secrets: str | None) -> None:
    """Mask these secrets in every later log line, ours or a library's: one `RedactSecrets` on the root
    logger's handlers, installed on first use, gathering every secret."""
    _REDACTOR.secrets.extend(s for s in secrets if s and s not in _REDACTOR.secrets)
    for handler in logging.getLogger().handlers:
        if _REDACTOR not in handler.filters:
            handler.addFilter(_REDACTOR)
