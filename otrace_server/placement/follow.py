"""Lines that move: where a line of one text is in another (``difflib``), for positions that must
follow edits.

* ``LineFollower(old, new).line(n)``: the 1-based line of ``new`` holding line ``n`` of ``old``
  (an unchanged line that moved, e.g. below lines the user inserted), or None when that line
  itself was changed or deleted. The language server uses it so that a diagnostic or a Resume
  lens stays on its line while the document is being edited, instead of jumping to line 1.
* ``nearest(old, new)``: for each line of ``new``, the line of ``old`` it is or replaced (an added
  line: the old line it follows): how lines of a function patched with a whole new source
  (``edit``, ``otrace/patch``) are reported in its file (``positions.source_position``); lines are
  compared without their indentation here (an edited method's source comes dedented).

Lines are compared without their line ends. Pure; any thread.
"""

from __future__ import annotations

import difflib

__all__ = ["LineFollower", "nearest"]


def _texts(lines: list[str], indented: bool) -> list[str]:
    return [line.rstrip("\r\n") if indented else line.strip() for line in lines]


def _matcher(old: list[str], new: list[str], indented: bool = True) -> difflib.SequenceMatcher:
    return difflib.SequenceMatcher(None, _texts(old, indented), _texts(new, indented), autojunk=False)


class LineFollower:
    """Where the lines of ``old`` are in ``new`` (computed once, on the first question)."""

    def __init__(self, old: list[str], new: list[str]) -> None:
        self._old, self._new = old, new
        self._blocks: list[tuple[int, int, int]] | None = None

    def line(self, n: int) -> int | None:
        """The 1-based line of ``new`` that is line ``n`` of ``old`` unchanged, or None."""
        if self._blocks is None:
            self._blocks = _matcher(self._old, self._new).get_matching_blocks()
        i = n - 1
        for a, b, size in self._blocks:
            if a <= i < a + size:
                return b + (i - a) + 1
        return None


def nearest(old: list[str], new: list[str]) -> list[int]:
    """For each line of ``new``: the 1-based line of ``old`` it is (unchanged), replaced, or follows
    (added); a line added before all of ``old`` maps to old line 1."""
    out: list[int] = []
    for tag, i1, i2, j1, j2 in _matcher(old, new, indented=False).get_opcodes():
        for k in range(j2 - j1):
            if tag == "equal":
                out.append(i1 + k + 1)
            elif tag == "replace":
                out.append(min(i1 + k, i2 - 1) + 1)
            else:   # insert: the old line it follows (or the first)
                out.append(max(i1, 1))
    return out
