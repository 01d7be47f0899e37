"""A FastAPI app run the way FastAPI's documentation runs it, ``uvicorn main:app``, under otrace
(``otrace .venv/bin/uvicorn main:app``): the program otrace runs is uvicorn's script, whose own
``main`` is uvicorn's command, and the endpoints live in the module uvicorn imported. The shell
reaches them by that module's name: ``trace -a hold main.read_item`` holds the next request (the
server serves others meanwhile), ``resume`` answers it, ``untrace`` ends it."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import pytest

from tests.support.served import ServedScript, http_get
from tests.support.waiting import wait_for
from tests.test_autoreload import command, discovery_of

pytestmark = pytest.mark.timeout(90)

MAIN = '''
from fastapi import FastAPI

app = FastAPI()


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}
'''


def test_an_endpoint_of_the_module_uvicorn_imported_is_traced_by_its_module_name(tmp_path):
    (tmp_path / "main.py").write_text(MAIN)
    run = tmp_path / "run"
    uvicorn = Path(sys.executable).with_name("uvicorn")
    with ServedScript(uvicorn, otrace=["--no-console"], args=["main:app", "--host", "127.0.0.1", "--port", "{port}"],
                      cwd=tmp_path, env={"XDG_RUNTIME_DIR": str(run)}) as app:
        info = wait_for(lambda: discovery_of(run, app.process.pid), what="the discovery file")
        assert command(info, "trace -a hold main.read_item") == "Tracing -a hold main.read_item"
        answers = []
        client = threading.Thread(target=lambda: answers.append(http_get(app.url + "/items/5?q=x", timeout=30)))
        client.start()
        wait_for(lambda: "read_item" in command(info, "ls /osh/recent/holds"), 20, what="the hold")
        assert command(info, "untrace main.read_item") == "untraced main.read_item"
        assert http_get(app.url + "/items/6") == (200, '{"item_id":6,"q":null}')   # served meanwhile
        assert command(info, "resume all").startswith("Resuming read_item:hd-hold:")
        client.join(30)
        assert answers == [(200, '{"item_id":5,"q":"x"}')]
        app.process.send_signal(signal.SIGINT)
        assert app.wait(10) == 0, app.output
