"""otrace's parameters (``set name value`` in the shell), typed and validated.

    >>> s = Settings()
    >>> s.set("max_recent", "20")
    20
    >>> s.max_recent
    20

Values are plain instance attributes so hot paths read them at attribute-lookup cost.
Thread-safety: reads are safe from any thread; ``set`` is atomic per parameter (one attribute store).
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable

from otrace_server.core.errors import OTraceError

__all__ = ["Param", "PARAMS", "Settings", "MAX_SECONDS", "hash_password", "check_password"]


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default value, help text and an optional extra check."""

    name: str
    type: type
    default: Any
    help: str
    check: Callable[[Any], str | None] | None = None  # returns an error message or None


def _non_negative(v):
    return None if v >= 0 else "must be >= 0"


def _positive(v):
    return None if v > 0 else "must be > 0"


#: the longest time a setting in seconds may give (about 11 days): waits longer than the platform
#: can count failed when they began (``web_timeout 1e308``: "OverflowError: timestamp out of range")
MAX_SECONDS = 1_000_000


def _seconds(v):
    return _positive(v) or (None if v <= MAX_SECONDS else f"must be at most {MAX_SECONDS} (seconds)")


def _seconds_or_zero(v):
    return _non_negative(v) or (None if v <= MAX_SECONDS else f"must be at most {MAX_SECONDS} (seconds)")


#: the levels of ``log_level`` by name and, as otrace also takes them, by number
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def _log_level(v):
    return None if v.upper() in _LEVELS else (
        "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (or 10, 20, 30, 40, 50)")


def _level_name(value: Any) -> Any:
    """``log_level`` given as a number (``10`` or ``"10"``): the level's name; anything else as given
    (an unknown number stays a number-string, which ``_log_level`` refuses)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value)
        return next((name for name, n in _LEVELS.items() if n == number), value.strip())
    return value


PARAMS: dict[str, Param] = {p.name: p for p in [
    Param("safe_mode", bool, True,
          "True: pr refuses calls and assignments; exec, edit, rm and JavaScript evaluation are refused"),
    Param("trace_active", bool, False,
          "True: traceassert records failed assertions (set implicitly by the first trace command)"),
    Param("max_recent", int, 10, "number of recent trace contexts kept per type (older ones are dropped unless saved)",
          _positive),
    Param("assert_context", int, 0, "number of source lines shown around a failed assertion", _non_negative),
    Param("deep_copy", bool, False,
          "True: trace contexts keep deep copies of arguments/locals/return values (default: shallow)"),
    Param("pretty_print", bool, True, "True: pr pretty-prints containers"),
    Param("repeat_interval", float, 0.2, "seconds between redraws of the repeat command", _seconds),
    Param("pickle_file", str, "", "path of a trace database (SQLite) to which every trace context is also written"),
    Param("password", str, "", "console password for lock (stored as an scrypt hash; empty: no password)"),
    Param("auto_lock", int, 0, "lock the console after this many idle seconds (0: never)", _seconds_or_zero),
    Param("log_level", str, "WARNING",
          "level of otrace's own log: DEBUG, INFO, WARNING, ERROR, CRITICAL (or 10, 20, 30, 40, 50)",
          _log_level),
    Param("log_truncate", int, 72, "truncate logged trace values to this many characters (0: no limit)",
          _non_negative),
    Param("save_tags", bool, False, "True: contexts that involve tagged objects are saved (never evicted)"),
    Param("trace_related", bool, False,
          "True: contexts of calls receiving a tagged object list earlier contexts of that object in 'related'"),
    Param("append_traceback", bool, False, "True: the traceback text is appended to exception trace messages"),
    Param("editor", str, "", "editor command used by edit in a terminal (default: $EDITOR, else vi)"),
    Param("stack_locals", int, 1,
          "number of stack frames, starting at the traced function, whose locals a context keeps", _non_negative),
    Param("hold_timeout", float, 0.0, "seconds after which a hold resumes by itself (0: hold forever)",
          _seconds_or_zero),
    Param("web_timeout", float, 5.0, "seconds to wait for a browser's answer to a JavaScript evaluation", _seconds),
    Param("shell_timeout", float, 10.0, "seconds a Unix command run outside /osh may take", _seconds),
]}


def _parse(param: Param, value: Any) -> Any:
    """Convert ``value`` (a string typed by a user, or a Python object) to the parameter's type."""
    t = param.type
    if isinstance(value, str) and t is not str:
        text = value.strip()
        if t is bool:
            low = text.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise OTraceError(f"{param.name}: expected True or False, got {value!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise OTraceError(f"{param.name}: expected {t.__name__}, got {value!r}") from None
    if t is str:
        if not isinstance(value, str):
            raise OTraceError(f"{param.name}: expected a string, got {value!r}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        return value
    if t is bool:
        if not isinstance(value, bool):
            raise OTraceError(f"{param.name}: expected True or False, got {value!r}")
        return value
    if t is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, t) or isinstance(value, bool):
        raise OTraceError(f"{param.name}: expected {t.__name__}, got {value!r}")
    return value


def hash_password(password: str) -> str:
    """Return an scrypt hash string ``scrypt$<salt hex>$<hash hex>`` of ``password``."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches the ``hash_password`` string ``hashed`` (timing-safe)."""
    try:
        _, salt, digest = hashed.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2 ** 14, r=8, p=1)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


class Settings:
    """The parameters of one engine. Attribute access reads a value; ``set`` validates and stores.

    ``on_change`` callbacks (name, value) run on each valid ``set`` and may veto it;
    ``after_change`` callbacks run once the value is stored (they cannot veto).
    """

    def __init__(self) -> None:
        for p in PARAMS.values():
            object.__setattr__(self, p.name, p.default)
        object.__setattr__(self, "_on_change", [])
        object.__setattr__(self, "_after_change", [])

    def __setattr__(self, name, value):
        self.set(name, value)

    def names(self) -> list[str]:
        """All parameter names, sorted."""
        return sorted(PARAMS)

    def get(self, name: str) -> Any:
        """The value of ``name``; OTraceError for an unknown name."""
        return getattr(self, self._param(name).name)

    def set(self, name: str, value: Any) -> Any:
        """Validate ``value`` (string or object) for ``name``, store it and return the typed value.

        ``password`` is stored as an scrypt hash (empty string: no password). Raises OTraceError with a
        one-line message and changes nothing when the name or value is bad.
        """
        param = self._param(name)
        if name == "log_level":
            value = _level_name(value)
        typed = _parse(param, value)
        if param.check is not None:
            problem = param.check(typed)
            if problem:
                raise OTraceError(f"{name}: {problem}")
        if name == "password" and typed:
            typed = hash_password(typed)
        if name == "log_level":
            typed = typed.upper()
        for callback in list(self._on_change):
            callback(name, typed)  # may veto with OTraceError: then nothing is stored
        object.__setattr__(self, name, typed)
        if name == "log_level":
            logging.getLogger("otrace").setLevel(typed)
        for callback in list(self._after_change):
            try:
                callback(name, typed)
            except Exception:   # the value is stored: a failing observer must not undo that
                logging.getLogger("otrace").exception("otrace: settings observer failed")
        return typed

    def help(self, name: str) -> str:
        """One line: ``name (type, default D): help``."""
        p = self._param(name)
        return f"{p.name} ({p.type.__name__}, default {p.default!r}): {p.help}"

    def display(self, name: str) -> str:
        """``name = value`` as the shell shows it (the password is never shown)."""
        value = self.get(name)
        if name == "password":
            return f"password = {'(set)' if value else '(none)'}"
        return f"{name} = {value!r}"

    def on_change(self, callback: Callable[[str, Any], None]) -> None:
        """Register ``callback(name, value)`` to run on each valid ``set``, before the value is stored;
        it may raise OTraceError to refuse the value (then nothing changes)."""
        self._on_change.append(callback)

    def after_change(self, callback: Callable[[str, Any], None]) -> None:
        """Register ``callback(name, value)`` to run after each ``set`` has stored its value (it sees
        only values that were accepted; an exception in it is logged, the value stays)."""
        self._after_change.append(callback)

    @staticmethod
    def _param(name: str) -> Param:
        try:
            return PARAMS[name]
        except KeyError:
            raise OTraceError(f"unknown parameter {name!r}; 'set' lists them") from None
