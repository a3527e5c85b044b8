"""Secrets stay out of logs: passwords in URLs are shown as ``***`` in tags, messages and reports."""

from __future__ import annotations

import re

# The password of a URL's user info runs to the last "@" before the end of the URL (whitespace or a quote), so a
# password holding "@" or "/" is hidden whole; a URL without user info but with "@" in its path loses a little
# more than its password would be, which is the safe side.
_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s'\"`]*:)(?P<secret>[^\s'\"`]*)(?P<tail>@)",
                       re.IGNORECASE)
# Query parameters that carry a secret: ?password=..., &token=..., &sslpassword=..., &X-Amz-Signature=...
_PARAMETER = re.compile(r"(?P<head>[?&;](?:[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|signature"
                        r"|credential)[\w.-]*|sig|key)=)(?P<secret>[^&#\s'\"`]+)", re.IGNORECASE)


def redact(text: str) -> str:
    """Hides secrets in URLs: ``scheme://user:secret@host`` becomes ``scheme://user:***@host``, and the values of
    query parameters such as ``password``, ``token``, ``secret`` or ``api_key`` become ``***``."""
    return _PARAMETER.sub(r"\g<head>***", _PASSWORD.sub(r"\g<head>***\g<tail>", text))
