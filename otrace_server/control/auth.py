"""Who may use the control plane: the token check, the login limits, and what counts as loopback.

Every control-plane client proves it knows the process's token (the discovery file's ``token``)
before anything else is read from it: LSP in ``initialize``'s ``initializationOptions.token``, DAP
in ``attach``'s ``token``. Until then a client gets ``AUTH_TIMEOUT`` seconds, message bodies of at
most ``framing.MAX_LOGIN_MESSAGE`` bytes, and at most ``MAX_LOGINS`` such clients wait at once per
endpoint (a new connection past that closes the one that has waited longest, so that a client that
logs in at once, as editors do, still gets through while strangers hold connections open):
strangers cannot make the process hold much.

Thread-safety: pure functions, any thread.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

__all__ = ["AUTH_TIMEOUT", "MAX_LOGINS", "new_token", "token_matches", "is_loopback"]

#: seconds a new connection has to prove the token (LSP ``initialize``, DAP ``attach``)
AUTH_TIMEOUT = 10.0
#: connections of one endpoint that may be waiting to prove the token at once
MAX_LOGINS = 64


def new_token() -> str:
    """A fresh control-plane secret (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def token_matches(given: object, expected: str) -> bool:
    """Whether ``given`` (what a client sent: any JSON value) is the token ``expected``; compared
    in constant time. Not a string (None, a number...) never matches."""
    return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                                          expected.encode("utf-8"))


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) listens on loopback only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
