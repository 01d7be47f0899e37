"""The stack of a trace context: walking the traced thread's frames, and the stack kept from them.

``walk`` goes from a frame outwards and returns, packed, what a context keeps of each frame (its
code object and bytecode position, never the frame); ``FrameStack`` turns that packed form into
``FrameSnapshot`` objects on first use. ``walk`` is the optional C accelerator
``core/_stackwalk.c`` when it was built (by ``pip install``, through ``setup.py``), else the same
walk in Python (``_walk_python``; tests check that both give the same result).

Otrace's own frames (its core, the generated tracing wrappers included: those swapped into an
application's function run with its module's globals, and are told by their file name
``<otrace wrapper of NAME>``) are never part of a stack: ``is_own`` tells them apart, caching its
answer per source file in ``own_files``.

Thread-safety: ``walk`` and ``frames_from_traceback`` run on the traced thread and touch only its
frames; ``own_files`` is a plain dict (its updates are single dict operations).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from types import CodeType, FrameType, TracebackType
from typing import Any

from otrace_server.core.wrappers import FILE_PREFIX as _WRAPPER_FILE

__all__ = ["FrameSnapshot", "FrameStack", "PackedStack", "MAX_FRAMES", "frames_from_traceback", "is_own",
           "is_own_code", "own_files", "position_line", "walk"]

#: the most frames a walk keeps
MAX_FRAMES = 64
_OWN_MODULE_PREFIX = "otrace_server.core"
#: code flags of coroutine-like frames: CO_COROUTINE, CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR
_CO_ASYNC = 0x80 | 0x100 | 0x200


@dataclass(slots=True)
class FrameSnapshot:
    """One stack frame, detached: file, line, function name, and a copy of its locals (or None)."""

    file: str
    line: int
    function: str
    locals: dict[str, Any] | None = None


class FrameStack(Sequence):
    """The stack of a captured context: a read-only sequence of FrameSnapshot, outermost first,
    built on first use from what ``capture`` recorded cheaply. Compares equal to a list of the
    same snapshots. Code objects are kept, frames never.

    Packed form (no object per frame): ``flat`` starts with the code objects of the ``count``
    frames, outermost first, followed by the copies of the locals kept by frames ``first``,
    ``first + 1``, ... (the kept frames are adjacent). ``positions`` holds one native int32 per
    frame (``array("i")`` bytes): >= 0 is half a bytecode offset (the line is computed on first
    use), negative is ``~line`` (a line known at capture, e.g. from a traceback).

    Thread-safety: concurrent first uses build equal lists; either one is kept."""

    __slots__ = ("_flat", "_positions", "_count", "_first", "_frames")

    def __init__(self, flat: list, positions: bytes, count: int, first: int = 0) -> None:
        self._flat = flat
        self._positions = positions
        self._count = count
        self._first = first
        self._frames: list[FrameSnapshot] | None = None

    def _list(self) -> list[FrameSnapshot]:
        frames = self._frames
        if frames is None:
            flat, count, first = self._flat, self._count, self._first
            positions = array("i", self._positions)
            kept = flat[count:]
            frames = [FrameSnapshot(flat[i].co_filename, position_line(flat[i], positions[i]), flat[i].co_name,
                                    kept[i - first] if 0 <= i - first < len(kept) else None)
                      for i in range(count)]
            self._frames = frames
        return frames

    def __len__(self) -> int:
        return self._count

    def line_at(self, index: int) -> int:
        """The line of frame ``index`` (without building the snapshots)."""
        frames = self._frames
        if frames is not None:
            return frames[index].line
        return position_line(self._flat[index], array("i", self._positions)[index])

    def __getitem__(self, index):
        return self._list()[index]

    def __iter__(self):
        return iter(self._list())

    def __eq__(self, other) -> bool:
        if isinstance(other, FrameStack):
            other = other._list()
        return self._list() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._list())


class PackedStack(tuple):
    """``(flat, positions, count, first)``: the arguments of a FrameStack not made yet (made in C,
    no Python frame, unlike the FrameStack itself: ``context.snapshot`` gives this to the context,
    which makes the FrameStack on first read)."""

    __slots__ = ()


def position_line(code: CodeType, position: int) -> int:
    """The source line of a packed position in ``code``: ``~line`` when negative, else the line of
    bytecode offset ``2 * position`` (what ``frame.f_lineno`` computes)."""
    if position < 0:
        return ~position
    position *= 2
    for start, end, line in code.co_lines():
        if start <= position < end:
            return line if line is not None else code.co_firstlineno
    return code.co_firstlineno


#: source file name -> whether its code is otrace's own (core) code; learnt from the first frame seen
own_files: dict[str, bool] = {}


def is_own(frame: FrameType) -> bool:
    """True for frames of otrace's core and of its tracing wrappers (by their file name, since a
    wrapper swapped into a function runs with that function's globals), cached per source file
    name in ``own_files``."""
    return is_own_code(frame.f_code, frame.f_globals)


def is_own_code(code: CodeType, globals: dict[str, Any]) -> bool:
    """``is_own`` of a frame running ``code`` with ``globals`` (what the C recorder asks: it reads
    the interpreter's frames, not frame objects)."""
    file = code.co_filename
    own = own_files.get(file)
    if own is None:
        name = globals.get("__name__", "")
        own = file.startswith(_WRAPPER_FILE) or (isinstance(name, str) and name.startswith(_OWN_MODULE_PREFIX))
        if len(own_files) >= 10_000:   # generated file names (one per wrapper): stay bounded
            own_files.clear()
        own_files[file] = own
    return own


def _walk_python(frame: FrameType | None, own_files: dict[str, bool], is_own, limit: int,
                 want: int) -> tuple[list, bytes, list[FrameType], int]:
    """The stack walk of ``context.snapshot`` (the C accelerator ``_stackwalk.walk`` does the same):
    from ``frame`` outwards, skipping otrace's own frames, stopping after ``limit`` frames or
    after the first ordinary frame above a chain of coroutine frames. Returns the code objects
    (outermost first), their positions (``array("i")`` bytes, half the bytecode offsets), the
    first ``want`` frames kept (innermost first) and how many frames were kept."""
    codes: list = []
    positions = array("i")
    near: list = []
    f = frame
    depth = 0
    in_chain = False
    while f is not None:
        code = f.f_code
        own = own_files.get(code.co_filename)
        if own is None:
            own = is_own(f)
        if not own:
            if depth < want:
                near.append(f)
            codes.append(code)
            positions.append(f.f_lasti >> 1)    # offsets are even (2-byte code units)
            depth += 1
            if code.co_flags & _CO_ASYNC:
                in_chain = True
            elif in_chain:
                break
            if depth == limit:
                break
        f = f.f_back
    codes.reverse()
    positions.reverse()
    return codes, positions.tobytes(), near, depth


# walk(frame, own_files, is_own, limit, want) -> (codes, positions, frames, depth): see _walk_python
try:
    from otrace_server.core._stackwalk import walk   # the C accelerator, when built
except ImportError:   # pragma: no cover - built by pip install; the Python walk is equivalent
    walk = _walk_python


def frames_from_traceback(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    """The (frame, line) pairs of a traceback, outermost first, skipping otrace's own wrapper
    frames (the ``inner`` argument of ``context.capture``)."""
    frames = []
    while tb is not None:
        if not is_own(tb.tb_frame):
            frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames
