"""The secrets the webhook holds, and keeping them out of everything it writes.

Held: the webhook secret, the GitHub token or App private key, the installation tokens PyGithub
fetches with the key, and the credentials envctl's environment carries (environment.py). A pull
request's plan can read them (`/proc/<envctl's pid>/environ`, the key file) and print them in
any encoding; the Redactor masks them and their encodings (redaction.py).

Where they are masked: PullUpdater (every comment, reply and status description on GitHub),
the Terraform runs (plan text, errors, apply output), and every log record of the webhook and its
worker processes (install_log_redaction: the record's message, arguments and traceback are
redacted when the record is made, whatever handler writes it later).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable
from typing import Any

from github import Github

from envctl.github.settings import GitHubSettings
from envctl.terraform.environment import held_secrets
from envctl.terraform.redaction import Redactor


def settings_secrets(settings: GitHubSettings) -> list[str]:
    return [s for s in (settings.webhook_secret, settings.token, settings.app_private_key) if s]


def client_token(gh: Github) -> str | None:
    """The token PyGithub sends right now (an installation token is fetched and refreshed by it)."""
    auth = getattr(getattr(gh, "requester", None), "auth", None)
    try:
        return getattr(auth, "token", None)
    except Exception:  # noqa: BLE001 - an App that cannot get a token now has none to leak either
        return None


@functools.lru_cache(maxsize=64)
def _redactor(secrets: frozenset[str]) -> Redactor:
    return Redactor(secrets=held_secrets(extra=secrets))


def redactor_for(secrets: Iterable[str | None]) -> Redactor:
    """A redactor for `secrets` plus the credentials in envctl's environment (cached: built once)."""
    return _redactor(frozenset(s for s in secrets if s))


_log_lock = threading.Lock()
_log_secrets: set[str] = set()
_log_redactor: list[Redactor] = []  # the current one; replaced (not mutated) when secrets are added


def install_log_redaction(secrets: Iterable[str | None]) -> None:
    """Redact every log record made in this process from now on (idempotent; secrets accumulate)."""
    with _log_lock:
        fresh = {s for s in secrets if s} - _log_secrets
        first = not _log_secrets and not getattr(logging.getLogRecordFactory(), "_envctl_redacting", False)
        _log_secrets.update(fresh)
        _log_redactor[:] = [redactor_for(frozenset(_log_secrets))]
        if not first:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redact = _log_redactor[0]
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a bad format string: leave it to logging's own error path
                return record
            record.msg, record.args = redact(message), None
            if record.exc_info and not record.exc_text:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
            return record

        factory._envctl_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
