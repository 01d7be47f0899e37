"""Mapping views that make Python objects look like directories (and evaluation namespaces).

    AttrMapping(obj)     attributes of any object (dir / getattr / setattr / delattr)
    IndexMapping(seq)    a list or tuple, keys "0", "1", ...
    Overlay(extra, base) reads ``extra`` first, writes go to ``base`` (used to inject names such as
                         ``print`` into an evaluation without touching the application's dicts)

Thread-safety: views read live objects; they are as thread-safe as the objects themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Iterator

__all__ = ["AttrMapping", "IndexMapping", "Overlay"]


class AttrMapping(MutableMapping):
    """The attributes of ``obj`` as a mapping. Listing uses ``dir`` (failures list nothing)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def keys(self):  # type: ignore[override]
        try:
            return [k for k in dir(self.obj) if isinstance(k, str)]
        except Exception:
            return []

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: object) -> bool:
        try:
            return isinstance(key, str) and hasattr(self.obj, key)
        except Exception:
            return False

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str):
            raise KeyError(key)
        try:
            return getattr(self.obj, key)
        except AttributeError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self.obj, key, value)

    def __delitem__(self, key: str) -> None:
        try:
            delattr(self.obj, key)
        except AttributeError:
            raise KeyError(key) from None


class IndexMapping(MutableMapping):
    """A list/tuple as a mapping from ``"0"``, ``"1"``, ... to its items."""

    def __init__(self, seq: Any) -> None:
        self.seq = seq

    def keys(self):  # type: ignore[override]
        return [str(i) for i in range(len(self.seq))]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.seq)

    def _index(self, key: object) -> int:
        try:
            i = int(key)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise KeyError(key) from None
        if not 0 <= i < len(self.seq):
            raise KeyError(key)
        return i

    def __getitem__(self, key: str) -> Any:
        return self.seq[self._index(key)]

    def __setitem__(self, key: str, value: Any) -> None:
        self.seq[self._index(key)] = value

    def __delitem__(self, key: str) -> None:
        del self.seq[self._index(key)]


class Overlay(MutableMapping):
    """Reads ``extra`` then ``base``; writes and deletes go to ``base`` only."""

    def __init__(self, extra: Mapping, base: MutableMapping) -> None:
        self.extra = extra
        self.base = base

    def __getitem__(self, key: str) -> Any:
        if key in self.extra:
            return self.extra[key]
        return self.base[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.base[key] = value

    def __delitem__(self, key: str) -> None:
        del self.base[key]

    def __iter__(self) -> Iterator[str]:
        seen = set(self.extra)
        yield from self.extra
        yield from (k for k in self.base if k not in seen)

    def __len__(self) -> int:
        return len(set(self.extra) | set(self.base))

    def __contains__(self, key: object) -> bool:
        return key in self.extra or key in self.base
