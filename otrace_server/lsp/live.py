"""Live holds ("Hold here live") as editors see them: listed with their line, removable.

A live hold is a patch of the function around a document line (``features.hold_here``), which
notes on the Patch where it was put (``Patch.note["liveHold"]``), so that editors can list it
(``otrace/patches``, ``otrace/patchesChanged``), mark its line, and remove it (the code action
"Remove live hold", the command ``otrace.unpatch``, the request ``otrace/unpatch``), in safe mode
too: removing only puts the loaded code back. A name patched again (``edit``) is no longer a live
hold: the new Patch has no such note.

    note(label, file, line)                    # the note hold_here gives patcher.patch
    live_hold(server, name)                    # {label, file, line} while that live hold is patched in
    patches_payload(server)                    # otrace/patches: [{name, since, liveHold}]
    patched_actions(server, qualname)          # (reason "Hold here live" is disabled, [actions])

Thread-safety: any thread (they only read the engine's patcher, which locks).
"""

from __future__ import annotations

from typing import Any

__all__ = ["note", "live_hold", "patches_payload", "patched_actions"]


def note(label: str, file: str, line: int) -> dict:
    """The ``Patch.note`` of a live hold ``label`` inserted before ``file:line`` (1-based)."""
    return {"liveHold": {"label": label, "file": file, "line": line}}


def _live(patch: Any) -> dict | None:
    return (patch.note or {}).get("liveHold") if patch is not None else None


def live_hold(server, name: str) -> dict | None:
    """``{label, file, line}`` of the live hold patched into ``name``, or None."""
    return _live(server.engine.patcher.get(name))


def patches_payload(server) -> list[dict]:
    """``otrace/patches``: every live patch, ``{name, since, liveHold}`` (``liveHold``: ``{label,
    file, line}`` for a "Hold here live", else null), oldest first."""
    return [{"name": p.name, "since": p.time, "liveHold": _live(p)}
            for p in sorted(server.engine.patcher.patches(), key=lambda p: p.time)]


def patched_actions(server, qualname: str) -> tuple[str, list[dict]] | None:
    """When ``qualname`` is patched: why "Hold here live" is disabled there, and the code action
    undoing the patch ("Remove live hold (line N)" or "Unpatch NAME"); None when it is not."""
    if server.engine.patcher.get(qualname) is None:
        return None
    hold = live_hold(server, qualname)
    if hold is not None:
        reason = f"{qualname} has a live hold already (line {hold['line']}): remove it first"
        title = f"Remove live hold ({qualname}, line {hold['line']})"
    else:
        reason = f"{qualname} is patched (edit): unpatch it first"
        title = f"Unpatch {qualname}"
    action = {"title": title, "kind": "refactor.otrace.unpatch",
              "command": {"title": title, "command": "otrace.unpatch", "arguments": [qualname]}}
    return reason, [action]
