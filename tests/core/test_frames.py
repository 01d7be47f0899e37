"""core.frames: the stack walk, the C accelerator and its Python fallback giving the same result."""

from __future__ import annotations

import sys

import pytest


def _walks():
    from otrace_server.core import frames

    walks = [("python", frames._walk_python)]
    try:
        from otrace_server.core._stackwalk import walk
    except ImportError:     # not built: the fallback is what runs, and what is tested
        return walks
    return walks + [("c", walk)]


def test_the_c_walk_is_built_and_used_by_an_installed_tree():
    """`pip install` builds the accelerator (setup.py) wherever a C compiler and Python's headers
    are there (make test installs build-essential first); capture uses it when it is there."""
    import shutil
    import sysconfig
    from pathlib import Path

    from otrace_server.core import frames

    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists() or not shutil.which("cc"):
        pytest.skip("no C compiler or Python headers here: the Python walk runs (tested below)")
    names = [name for name, _ in _walks()]
    assert names == ["python", "c"], "otrace_server/core/_stackwalk.c was not built (pip install -e .)"
    assert frames.walk is dict(_walks())["c"]


def test_c_and_python_walks_agree_on_sync_async_own_and_limited_stacks():
    import asyncio
    from array import array

    from otrace_server.core import frames

    results = {}

    def innermost(depth):
        if depth:
            return innermost(depth - 1)
        frame = sys._getframe()
        out = {}
        for name, walk in _walks():
            for limit, want in ((64, 0), (64, 2), (3, 5), (1, 1)):
                codes, positions, near, count = walk(frame, frames.own_files, frames.is_own, limit, want)
                # the innermost position is where this loop is: it differs between the two walks
                out[name, limit, want] = ([c.co_name for c in codes], array("i", positions).tolist()[:-1],
                                          [f.f_code.co_name for f in near], count)
                del near
        return out

    results["sync"] = innermost(4)

    async def coro_inner():
        return innermost(0)

    async def coro_outer():
        return await coro_inner()

    results["async"] = asyncio.run(coro_outer())
    for case, out in results.items():
        by_walk = {}
        for (name, limit, want), value in out.items():
            by_walk.setdefault((limit, want), {})[name] = value
        for key, values in by_walk.items():
            assert len(set(map(repr, values.values()))) == 1, (case, key, values)
    sync = results["sync"]["python", 64, 2]
    assert sync[0][-5:] == ["innermost"] * 5 and sync[3] == len(sync[0])
    assert sync[2] == ["innermost", "innermost"]
    assert results["sync"]["python", 3, 5][3] == 3
    # async: the walk stops at the first ordinary frame above the coroutine chain
    names = results["async"]["python", 64, 0][0]
    assert names[-3:] == ["coro_outer", "coro_inner", "innermost"] and "run_forever" not in names


def test_walks_reject_bad_arguments_with_a_clear_error():
    from otrace_server.core import frames

    for name, walk in _walks():
        if name != "c":
            continue
        with pytest.raises(TypeError, match="frame"):
            walk("not a frame", {}, frames.is_own, 8, 1)
        with pytest.raises(TypeError, match="own_files"):
            walk(None, [], frames.is_own, 8, 1)
        with pytest.raises(ValueError, match="limit"):
            walk(None, {}, frames.is_own, 0, 1)
        assert walk(None, {}, frames.is_own, 8, 1) == ([], b"", [], 0)


def test_is_own_code_answers_what_is_own_answers_of_a_frame():
    from otrace_server.core import frames

    mine = sys._getframe()
    assert frames.is_own_code(mine.f_code, mine.f_globals) is frames.is_own(mine) is False
    ours = {"__name__": "otrace_server.core.engine"}
    code = compile("pass", "<an otrace core file for this test>", "exec")
    assert frames.is_own_code(code, ours) is True
    wrapper = compile("pass", f"{frames._WRAPPER_FILE}x>", "exec")
    assert frames.is_own_code(wrapper, {"__name__": "app"}) is True
