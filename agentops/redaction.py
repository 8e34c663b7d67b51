"""Redact payloads at capture time: keys matching the policy's globs, and secret-looking values."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

REDACTED = "[REDACTED]"
# Values that look like credentials whatever key they sit under.
_SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{16,}|AKIA[0-9A-Z]{16}|Bearer\s+[A-Za-z0-9._\-]{16,}|"
    r"postgres(?:ql)?://[^:@/\s]+:[^@/\s]+@)"
)


class Redactor:
    def __init__(self, key_globs: list[str], max_chars: int = 4000) -> None:
        self.globs = [g.lower() for g in key_globs]
        self.max_chars = max_chars

    def __call__(self, value: Any) -> Any:
        return self._walk(value)

    def _secret_key(self, key: str) -> bool:
        k = key.lower()
        return any(fnmatch.fnmatchcase(k, g) for g in self.globs)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: REDACTED if self._secret_key(str(k)) else self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        if isinstance(value, str):
            text = _SECRET_VALUE.sub(REDACTED, value)
            return text if len(text) <= self.max_chars else text[: self.max_chars] + "…"
        return value
