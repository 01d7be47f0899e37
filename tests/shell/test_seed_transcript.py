"""The seed transcript (UseWithTornado, section "Holds") on a real hold context."""

import re

from otrace_server.shell import Shell


def test_seed_transcript_on_a_real_hold(engine, app, loop, wait):
    import asyncio

    from tests.shell.conftest import GetHandler

    session = Shell(engine, app).session()
    r = session.execute("set trace_active True")
    assert (r.output, r.prompt) == ("trace_active = True", "globals> ")

    future = asyncio.run_coroutine_threadsafe(GetHandler().get("77"), loop)
    wait(lambda: len(engine.holds) == 1)
    ctx = engine.store.latest()
    assert re.fullmatch(r"GetHandler\.get:hd-hold_check:\d\d-\d\d-\d\d", ctx.id)
    hh_mm_ss = ctx.id.rsplit(":", 1)[1]

    r = session.execute("ls ~~")
    assert r.output == f"/osh/recent/holds/GetHandler.get/hd-hold_check/{hh_mm_ss}"

    r = session.execute("cd ~~")
    assert not r.error and r.prompt == f"GetHandler..{hh_mm_ss[3:]}> "

    assert session.execute("ls").output == "__down __trc  number self"

    lines = session.execute("ls -l").output.splitlines()
    assert re.fullmatch(r"__down = \{.*\}", lines[0])
    assert re.fullmatch(r"__trc  = \{argvalues, argstr, context, frame, framestack, funcname, id, related, thread, where\}",
                        lines[1])
    assert lines[2] == "number = '77'"
    assert re.fullmatch(r"self   = <tests\.shell\.conftest\.GetHandler object at 0x[0-9a-f]+>", lines[3])

    assert session.execute("number").output == "'77'"
    assert not future.done()                      # still held while we looked around

    r = session.execute("resume")
    assert r.output == f"Resuming {ctx.id}" and r.data["trace_ids"] == [ctx.id]
    assert future.result(5) == "resumed:None"
    assert r.prompt == "globals> "


def test_down_frame_is_the_caller_and_up_comes_back(session, held):
    future, hold = held
    session.execute("cd ~~")
    top = session.execute("pr __trc['frame']").output
    r = session.execute("dn")
    assert not r.error
    names = session.execute("ls").output.split()
    assert "__up" in names and "__trc" in names
    down_frame = session.execute("pr __trc['frame']").output
    assert down_frame != top
    # the default stack_locals 1 keeps only the held frame's locals: the caller's __trc says so
    assert "set stack_locals N" in session.execute("pr __trc['locals']").output
    assert r.prompt.endswith("> ") and "__down" not in r.prompt  # prompt shows the frame's function
    session.execute("up")
    assert session.execute("pr __trc['frame']").output == top
    assert "locals" not in session.execute("pr __trc").output.split("'frame'")[0]   # the held frame has them
    assert session.execute("up").error                        # no newer frame than the hold's
