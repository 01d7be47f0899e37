"""A multi-process Tornado app written the way Tornado's guide writes one ("Running and deploying":
``bind_sockets``, ``fork_processes``, then ``asyncio.run(post_fork_main())`` in each child), with
otrace started in ``post_fork_main`` (after the fork): its workers are one fleet (``ppid-<parent>``,
found from the parent running the same program), and a trace given to one worker as a fleet order
applies in the other (issue 20: apps others write, not only our demo)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

from otrace_server.control.discovery import list_processes
from tests.lsp.rpc import Client
from tests.support.fleet import ROOT
from tests.support.waiting import wait_for

APP = '''
import asyncio
import os
import sys

import tornado.httpserver
import tornado.netutil
import tornado.process
import tornado.web

import otrace_server


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write(f"Hello from {os.getpid()}")


async def post_fork_main(sockets):
    otrace_server.start(globals(), console=False)
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/", MainHandler)]))
    server.add_sockets(sockets)
    await asyncio.Event().wait()


if __name__ == "__main__":
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    print("port", sockets[0].getsockname()[1], flush=True)
    tornado.process.fork_processes(2)
    asyncio.run(post_fork_main(sockets))
'''


def two_workers(xdg) -> list[dict] | None:
    """The workers' discovery records once both wrote theirs."""
    records = list_processes(xdg / "otrace")
    return records if len(records) == 2 else None


def test_tornado_guides_fork_processes_app_is_one_fleet_and_takes_fleet_orders(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    xdg = tmp_path / "xdg"
    env = dict(os.environ, XDG_RUNTIME_DIR=str(xdg), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    clients = []
    try:
        records = wait_for(lambda: two_workers(xdg), 30, "both workers' discovery files")
        assert {r["fleet"]["id"] for r in records} == {f"ppid-{proc.pid}"}
        assert {r["fleet"]["name"] for r in records} == {"app.py"}
        assert {r["ppid"] for r in records} == {proc.pid}
        clients = [Client(r["lsp_port"]) for r in records]
        for client, record in zip(clients, records):
            client.initialize(record["token"], name="test-docs-fleet")
        answer = clients[0].request("otrace/trace", {"name": "MainHandler.get", "fleetOrder": str(uuid.uuid4())})
        assert answer["fleet"] == {"id": f"ppid-{proc.pid}", "recorded": True}, answer
        wait_for(lambda: "MainHandler.get" in clients[1].request("otrace/command", {"line": "trace"})["output"],
                 10, "the other worker to apply the fleet's trace")
    finally:
        for client in clients:
            client.close()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
