"""Process-wide logging set-up with a redaction filter, so the bot token never reaches a log.

The token is part of every Bot API URL (`https://api.telegram.org/bot<token>/getUpdates`),
and httpx logs each request URL; a traceback or a library's debug line can carry it too.
Muting one library would leave the next one leaking, so every handler on the root logger
gets a filter that rewrites each record before it is formatted: the message with its
arguments, an exception's traceback and a stack dump.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _forms(secret: str) -> set[str]:
    """The secret as typed and as it appears inside a URL or a query string."""
    forms = {secret}
    for encoded in (quote(secret, safe=""), quote_plus(secret, safe="")):
        forms.add(encoded)
        forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded))
    return forms


class RedactSecrets(logging.Filter):
    """Replaces each secret (plain or URL-encoded) with [REDACTED]; never drops a record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]
        forms = {form for secret in self.secrets for form in _forms(secret)}
        # Longest first, so a form never leaves the tail of a longer one behind.
        alternatives = sorted(forms, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(form) for form in alternatives)) if forms else None
        )

    def redact(self, text: str) -> str:
        """The text with every known secret blanked out."""
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place: handlers format what is left, secrets gone."""
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: logging would print msg and args raw, so do it here
            message = f"{record.msg!s} (arguments {record.args!r})"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()


def configure_logging(*, verbose: bool, secrets: Iterable[str]) -> None:
    """`logging.basicConfig` as the commands always had it, plus redaction on every handler."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format=FORMAT)
    redactor = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
            handler.removeFilter(old)
        handler.addFilter(redactor)


def redact_also(secret: str) -> None:
    """A secret made after start-up (the webhook's token): kept out of every log line too."""
    for handler in logging.getLogger().handlers:
        known = [f for f in handler.filters if isinstance(f, RedactSecrets)]
        for old in known:
            handler.removeFilter(old)
        previous = [s for f in known for s in f.secrets]
        handler.addFilter(RedactSecrets([*previous, secret]))
