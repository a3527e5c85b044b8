"""Secrets stay out of logs: passwords in URLs are shown as ``***`` in tags, messages and reports."""

from __future__ import annotations

import re

_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)(?P<tail>@)", re.IGNORECASE)


def redact(text: str) -> str:
    """Hides passwords in URLs (``scheme://user:secret@host`` becomes ``scheme://user:***@host``)."""
    return _PASSWORD.sub(r"\g<head>***\g<tail>", text)
