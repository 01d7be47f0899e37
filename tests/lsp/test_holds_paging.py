"""``otrace/holds`` pages (protocol 1.3) and the list an editor keeps from them and the hold
notifications (docs/PROTOCOL.md, "How an editor keeps its list"): thousands of real held Tornado
requests (the demo app on 127.0.0.1, otrace started in this process), a real LSP client over TCP.

``HeldList`` is the editors' algorithm written once more in Python (VS Code's
``vscode-extension/src/heldList.ts`` and Emacs' ``otrace--held-*`` are the same): fed the server's
messages in the order they arrived, it must end up with exactly the holds the server has."""

from __future__ import annotations

import random
import socket
import threading
import time

import pytest

import otrace_server
from otrace_server.lsp.methods import MAX_HOLDS_PAGE
from tests.lsp.rpc import Client, RpcError
from tests.support.waiting import wait_for
from tests.tornado_holds.demo_server import DemoServer

pytestmark = pytest.mark.timeout(120)

MANY = 2000


@pytest.fixture
def started():
    server = DemoServer()
    app = otrace_server.start(vars(server.demo), app_loop=server.loop, console=False, lsp=True, dap_port=None,
                              trace_active=True)
    sockets: list[socket.socket] = []
    try:
        yield server, app, sockets
    finally:
        quiet = 0
        while quiet < 3:                 # every request sent is held and resumed before otrace stops
            quiet = quiet + 1 if not app.engine.resume() else 0   # (one held after would count as an
            time.sleep(0.1)                                        # assert at the demo's line: the
        for sock in sockets:                                       # process's site counts)
            sock.close()
        app.stop()
        server.stop()
        app.engine.settings.set("trace_active", False)


def hold_requests(server, sockets: list, n: int, tag: str = "") -> None:
    """Send ``n`` requests the demo holds, one keep-alive connection each (read at the end)."""
    request = f"GET /?number=77&t={tag} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(request)
        sockets.append(sock)


def load_pages(client: Client, limit: int) -> tuple[list[dict], list[dict]]:
    """Every page from the first until ``next`` is null: (the pages' results, the holds)."""
    pages, after = [], None
    while True:
        pages.append(client.request("otrace/holds", {"limit": limit} if after is None else {"limit": limit, "after": after}))
        after = pages[-1]["next"]
        if after is None:
            return pages, [h for page in pages for h in page["holds"]]


class HeldList:
    """The list an editor keeps: pages merged, then notifications applied, by id, ordered by number.
    Ids resumed (or told gone) while pages load are remembered, so that a page answered after the
    notification of a change it does not show yet does not bring a resumed hold back."""

    def __init__(self) -> None:
        self.holds: dict[str, dict] = {}
        self.loading = False
        self.resumed: set[str] = set()
        self.gone: set[str] = set()

    def start_loading(self) -> None:
        self.holds, self.loading, self.resumed, self.gone = {}, True, set(), set()

    def page(self, holds: list[dict], last: bool) -> None:
        for hold in holds:
            if hold["id"] not in self.resumed and hold["id"] not in self.holds:
                self.holds[hold["id"]] = dict(hold, clientGone=hold.get("clientGone") or hold["id"] in self.gone)
        if last:
            self.loading, self.resumed, self.gone = False, set(), set()

    def notification(self, method: str, params: dict) -> None:
        if method == "otrace/holdStarted":
            self.holds[params["id"]] = params
        elif method in ("otrace/holdResumed", "otrace/holdsResumed"):
            for item in params["holds"] if method == "otrace/holdsResumed" else [params]:
                self.holds.pop(item["id"], None)
                if self.loading:
                    self.resumed.add(item["id"])
        elif method == "otrace/holdClientGone":
            if params["id"] in self.holds:
                self.holds[params["id"]] = dict(self.holds[params["id"]], clientGone=True)
            elif self.loading:
                self.gone.add(params["id"])

    def ids(self) -> list[str]:
        return [h["id"] for h in sorted(self.holds.values(), key=lambda h: h["number"])]


def replay(client: Client) -> HeldList:
    """A HeldList fed every message ``client`` received, in order: the load starts with the
    answer to ``initialize`` (the first page is asked for after it), pages are the results with
    ``total`` and ``next``."""
    held = HeldList()
    for message in client.messages:
        if "method" in message and "id" not in message:
            held.notification(message["method"], message.get("params") or {})
        elif isinstance(message.get("result"), dict) and "capabilities" in message["result"]:
            held.start_loading()
        elif isinstance(message.get("result"), dict) and "next" in message["result"]:
            held.page(message["result"]["holds"], message["result"]["next"] is None)
    return held


def test_pages_list_thousands_of_holds_oldest_first_with_their_total(started):
    server, app, sockets = started
    hold_requests(server, sockets, MANY)
    wait_for(lambda: len(app.engine.holds) == MANY, 60, what=f"{MANY} holds")
    client = Client(app.lsp_port, timeout=30)
    client.initialize(app.token)

    pages, holds = load_pages(client, 300)
    truth = [h.id for h in app.engine.holds.list()]
    assert [h["id"] for h in holds] == truth                       # every hold once, oldest first
    assert [len(p["holds"]) for p in pages] == [300] * 6 + [200]
    assert all(p["total"] == MANY for p in pages)
    assert [p["next"] for p in pages[:-1]] == [p["holds"][-1]["number"] for p in pages[:-1]]
    numbers = [h["number"] for h in holds]
    assert numbers == sorted(numbers)
    first = holds[0]
    assert first["label"] == "hold_check" and first["summary"]["uri"].startswith("/?number=77")

    middle = client.request("otrace/holds", {"after": numbers[999]})   # `after` alone: 100 holds
    assert [h["id"] for h in middle["holds"]] == truth[1000:1100] and middle["next"] == numbers[1099]
    assert client.request("otrace/holds", {"limit": 5, "after": numbers[-1]}) == {"holds": [], "total": MANY, "next": None}
    assert [h["id"] for h in client.request("otrace/holds")["holds"]] == truth   # no params: the whole list

    app.engine.resume(truth[:1000:2])                             # resumed holds leave the pages
    wait_for(lambda: len(app.engine.holds) == MANY - 500, what="500 resumed")
    _, after_resume = load_pages(client, MAX_HOLDS_PAGE)
    assert [h["id"] for h in after_resume] == truth[1:1000:2] + truth[1000:]

    for bad in ({"limit": 0}, {"limit": MAX_HOLDS_PAGE + 1}, {"limit": "10"}, {"after": 1.5}):
        with pytest.raises(RpcError) as refused:
            client.request("otrace/holds", bad)
        assert refused.value.code == -32602 and "otrace/holds" in refused.value.message
    client.close()


def test_a_page_costs_the_same_among_thousands_as_among_a_few(started):
    """O(page): a page of 50 takes about as long with 2,050 holds waiting as with 50, where the
    whole list takes 40 times longer."""
    server, app, sockets = started
    client = Client(app.lsp_port, timeout=30)
    client.initialize(app.token)

    def best(params: dict, n: int = 15) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.request("otrace/holds", params)
            times.append(time.perf_counter() - t0)
        return min(times)

    hold_requests(server, sockets, 50)
    wait_for(lambda: len(app.engine.holds) == 50, 30, what="50 holds")
    few = best({"limit": 50})
    hold_requests(server, sockets, MANY)
    wait_for(lambda: len(app.engine.holds) == MANY + 50, 60, what="more holds")
    last = app.engine.holds.list()[-51].number
    many_first, many_last = best({"limit": 50}), best({"limit": 50, "after": last})
    whole = best({}, 3)
    assert many_first < 3 * few + 0.002 and many_last < 3 * few + 0.002, (few, many_first, many_last)
    assert whole > 5 * many_first, (whole, many_first)
    client.close()


def test_pages_and_notifications_keep_the_servers_list_through_concurrent_starts_and_resumes(started):
    server, app, sockets = started
    engine = app.engine
    hold_requests(server, sockets, 1000, "a")
    wait_for(lambda: len(engine.holds) == 1000, 60, what="1,000 holds")
    client = Client(app.lsp_port, timeout=30)
    client.initialize(app.token)
    stop = threading.Event()
    rng = random.Random(21)

    def churn():                                    # starts and resumes while the editor loads
        extra: list[socket.socket] = []
        while not stop.is_set():
            hold_requests(server, extra, rng.randint(1, 20), "b")
            waiting = [h.id for h in engine.holds.list()]
            engine.resume(rng.sample(waiting, min(len(waiting), rng.randint(1, 25))))
            time.sleep(0.002)
        sockets.extend(extra)

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    after = None
    try:
        while True:                                 # the load, pages of 37 while holds come and go
            result = client.request("otrace/holds", {"limit": 37} if after is None else {"limit": 37, "after": after})
            after = result["next"]
            if after is None:
                break
            time.sleep(0.003)
        time.sleep(0.3)                             # more churn after the load: notifications alone
    finally:
        stop.set()
        worker.join(30)
    def agree():                                     # the churn's last requests may still be held now
        return replay(client).ids() == [h.id for h in engine.holds.list()]

    wait_for(agree, 10, what="the editor's list to be the server's (pages + notifications)")
    assert len(engine.holds) > 100
    resumed = {n["params"]["id"] for n in client.messages if n.get("method") == "otrace/holdResumed"}
    assert not resumed & set(replay(client).ids())
    client.close()
