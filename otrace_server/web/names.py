"""Browser names: what an identity (see ``registry.WebRegistry.identity``) becomes under /osh/web.

    clean_name("Ann Lee/admin")   # -> "Ann_Lee_admin"

Used by the registry (naming a connecting browser) and by ``correlate`` (finding the browser of
a held request's user), which must agree on it. Thread-safety: a pure function.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["clean_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


def clean_name(raw: Any) -> str | None:
    """``raw`` made usable as one /osh path component (at most 64 characters of
    ``[A-Za-z0-9_.@+-]``, others replaced by ``_``); None for None or an empty name."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    text = _UNSAFE.sub("_", str(raw).strip())[:64].strip(".")
    return text or None
