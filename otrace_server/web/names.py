"""Browser names: what an identity (see ``registry.WebRegistry.identity``) becomes under /osh/web.

    identity_text(b"ann")          # -> "ann"         (None / "" / blank: not identified)
    web_name("user1")              # -> "user1"       (the common case reads as itself)
    web_name("Ann Lee/admin")      # -> "Ann%20Lee%2Fadmin"
    tab_name("user1", 2)           # -> "user1#2"     (the second tab of user1)

The naming rule, one-to-one:

- Characters of ``[A-Za-z0-9_.@+-]`` are kept, except a leading or trailing ``.`` and a leading
  ``-``; every other character is escaped as ``%XX`` per byte of its UTF-8 encoding (lone
  surrogates included), so percent-decoding a name gives its identity back.
- An escaped form longer than 64 characters is cut to its first units within 31 characters and
  followed by ``~`` and 32 hex digits of the identity's SHA-256 (128 bits: two identities
  sharing such a name would be a SHA-256 collision; the registry refuses one anyway).
- The second, third, ... browser of one identity is ``<name>#2``, ``<name>#3``: ``#`` (like ``%``
  and ``~``) is never kept by the rule above, so no identity's name has the form of another
  identity's tab.

Used by the registry (naming a connecting browser). Correlation compares identities, not names.
Thread-safety: pure functions.
"""

from __future__ import annotations

import hashlib
import string
from typing import Any

__all__ = ["identity_text", "web_name", "tab_name", "MAX_NAME", "TAB_MARK"]

#: longest name of one identity (a longer escaped form is shortened with a hash)
MAX_NAME = 64
#: separates a name from its tab number; never kept from an identity
TAB_MARK = "#"
_HASH_MARK = "~"
_PREFIX = MAX_NAME - 33   # room for "~" and 32 hex digits
_KEPT = frozenset(string.ascii_letters + string.digits + "_.@+-")


def identity_text(raw: Any) -> str | None:
    """The identity an identity callable returned, as text: a str as is, bytes decoded as UTF-8
    (undecodable bytes kept apart, as surrogate escapes), anything else ``str(raw)``. None when
    it is None, empty or only white space (not identified). ``str(raw)`` may raise."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", "surrogateescape")
    else:
        text = raw if isinstance(raw, str) else str(raw)
    return text if text.strip() else None


def web_name(identity: str) -> str:
    """The /osh/web name of ``identity`` (a non-empty text; see the rule in the module doc)."""
    last = len(identity) - 1
    units = [ch if _kept(ch, i, last) else _escaped(ch) for i, ch in enumerate(identity)]
    name = "".join(units)
    if len(name) <= MAX_NAME:
        return name
    prefix = ""
    for unit in units:
        if len(prefix) + len(unit) > _PREFIX:
            break
        prefix += unit
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{prefix}{_HASH_MARK}{digest}"


def tab_name(name: str, tab: int) -> str:
    """The name of the ``tab``-th browser (1, 2, ...) of the identity named ``name``."""
    return name if tab == 1 else f"{name}{TAB_MARK}{tab}"


def _kept(ch: str, index: int, last: int) -> bool:
    if ch not in _KEPT:
        return False
    if ch == ".":
        return index not in (0, last)
    return ch != "-" or index != 0


def _escaped(ch: str) -> str:
    return "".join(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))
