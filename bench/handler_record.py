#!/usr/bin/env python3
"""Recording inside a real Tornado handler (issue 21, goal 2): what ``trace -c call`` of a handler
method costs the server, and what recording costs at every stack depth.

    .venv/bin/python bench/handler_record.py            # ~2 minutes; --quick: a smoke run (~30 s)

Two parts, each against a baseline measured in the same run:

  handler  A Tornado app written as Tornado's documentation writes one (a ``RequestHandler``
           subclass, ``async def main()`` run by ``asyncio.run``), with otrace started in it (as an
           application runs it: language server and DAP endpoint listening, no client), served on
           127.0.0.1 by its own process (this script with ``--server``). A separate load process
           (``--client``: keep-alive connections, each sending its next request when the previous
           answer is complete, as wrk does) drives it flat out. Rounds alternate the server
           untraced and the handler method traced as a user types it in the shell
           (``trace -c call MainHandler.get``: every request recorded). Per round, from marks the
           server takes before and after the load: its process CPU time per request (every
           thread: the loop, otrace's control thread), the loop thread's alone, requests per
           second, and gen-0 collections per 1,000 requests (``gc.callbacks``). Then the load
           paced at 200 requests a second on one connection: the handler called at an
           application's rate, the recording path cold between calls. A paced request costs
           ~350-400 us, most of it waking up, and that varies by +-10% from round to round
           with whatever else the machine does, which drowns a difference of a few us between
           rounds; so the paced requests alternate between MainHandler and its twin
           PlainHandler (same code, never traced), and the loop thread's CPU is charged to
           each request (from the previous request's end to its own: ``log_function``). The
           cost of recording, per pair of rounds: MainHandler minus PlainHandler in the traced
           round, minus the same in the untraced round, plus what the other threads (otrace's
           control thread) spent more per MainHandler request in the traced round.
  depth    A traced ``call`` recording against a pass-through wrapper of the same function, at
           every stack depth from 1 to 70 frames (the recorded stack's length; each depth runs on
           a fresh thread, so every depth starts the same data stack; the frames below are big
           enough that the depths sweep more than one of CPython's 16 KiB data-stack chunks). The
           timer is the thread's CPU time; per depth, the median over rounds of (recording /
           pass-through); the recording's own cost (recording - pass-through) of each depth is
           compared with its two neighbours' (the worst such ratio: a depth where the recording
           path crosses a chunk boundary pays an mmap/munmap pair per call).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.goals import Goal, add_json_argument, report  # noqa: E402

#: what the user types in the shell to record every request
TRACE = "trace -c call MainHandler.get"
UNTRACE = "untrace MainHandler.get"


# ---- the application (server process): as Tornado's documentation writes one ----------------
def serve() -> None:
    import tornado.httpserver
    import tornado.netutil
    import tornado.web

    class MainHandler(tornado.web.RequestHandler):
        def get(self):
            name = self.get_argument("name", "world")
            self.write(f"Hello, {name}")

    class PlainHandler(tornado.web.RequestHandler):   # the same handler, never traced: the paced
        def get(self):                                 # case's requests alternate between the two
            name = self.get_argument("name", "world")
            self.write(f"Hello, {name}")

    def make_app():
        return tornado.web.Application([(r"/", MainHandler), (r"/plain", PlainHandler)],
                                       log_function=METER.finished)

    async def main():
        import otrace_server

        app = make_app()
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        otrace = otrace_server.start({"MainHandler": MainHandler}, console=False)
        _Control(otrace, asyncio.get_running_loop()).start()
        print(json.dumps({"port": sockets[0].getsockname()[1]}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class _Meter:
    """The app loop thread's CPU per request, by handler (Tornado's ``log_function``, app loop): a
    request is charged the loop thread's CPU from the previous request's end to its own (its
    wake-up, reading, handler, answer); ``take()`` (app loop) returns ``{path: [cpu seconds of
    each request]}`` since the last take and starts again (the request after it is not counted: what
    ran before it since the last end was the take's own wake-up)."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.routes: dict[str, list] = {}

    def finished(self, handler) -> None:
        now = time.thread_time()
        if self.last is not None:
            self.routes.setdefault(handler.request.path, []).append(now - self.last)
        self.last = now

    def take(self) -> dict[str, list]:
        routes, self.routes, self.last = self.routes, {}, None
        return routes


METER = _Meter()


class _Control(threading.Thread):
    """The server's side of the bench: commands from stdin, one JSON answer per line on stdout."""

    def __init__(self, otrace, loop) -> None:
        super().__init__(daemon=True, name="bench-control")
        self.otrace, self.loop = otrace, loop
        self.session = otrace.shell.session("bench")
        self.collections = [0, 0]        # gen-0 collections, all collections
        gc.callbacks.append(self._collected)

    def _collected(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.collections[0] += info["generation"] == 0
            self.collections[1] += 1

    def _loop_marks(self) -> tuple[float, dict]:
        """(The app loop thread's CPU time now, ``METER.take()``), taken on the loop."""
        async def now():
            return time.thread_time(), METER.take()
        return asyncio.run_coroutine_threadsafe(now(), self.loop).result(10)

    def run(self) -> None:
        for line in sys.stdin:
            cmd = json.loads(line)["cmd"]
            if cmd in ("trace", "untrace"):
                result = self.session.execute(TRACE if cmd == "trace" else UNTRACE)
                out = {"error": result.error, "output": result.output}
            elif cmd == "mark":
                traced = self.otrace.engine.tracer.traced()
                loop, routes = self._loop_marks()
                out = {"cpu": time.process_time(), "loop": loop, "routes": routes, "gen0": self.collections[0],
                       "gcs": self.collections[1], "matches": sum(t.matches for t in traced)}
            else:                       # "context": what the last recorded context shows
                ctx = self.otrace.engine.store.latest()
                out = {"id": ctx.id, "args": sorted(ctx.argvalues), "self": type(ctx.first_argument).__name__,
                       "frames": len(ctx.stack), "where": ctx.where[-80:],
                       "request": str(ctx.extra.get("request", ""))} if ctx is not None else {}
            print(json.dumps(out), flush=True)


# ---- the load (client process): keep-alive connections, flat out ------------------------------
def load(port: int, seconds: float, conns: int) -> dict:
    """``conns`` keep-alive connections, each sending ``GET /?name=bench`` again as soon as its
    previous answer is complete, for ``seconds``; one thread, non-blocking sockets and epoll (a
    lean client: it shares the machine's cores with the server)."""
    request = b"GET /?name=bench HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    poll = select.epoll()
    socks, bufs = {}, {}
    for _ in range(conns):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        socks[sock.fileno()] = sock
        bufs[sock.fileno()] = b""
        poll.register(sock.fileno(), select.EPOLLIN)
    done = bad = 0
    started = time.monotonic()
    deadline = started + seconds
    for sock in socks.values():
        sock.send(request)
    while socks:
        for fd, _ in poll.poll(1.0):
            sock = socks[fd]
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("the server closed a connection")
            buf = bufs[fd] + data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                bufs[fd] = buf
                continue
            length = _length(buf, end)
            if len(buf) < end + 4 + length:
                bufs[fd] = buf
                continue
            if not buf.startswith(b"HTTP/1.1 200"):
                bad += 1
            bufs[fd] = buf[end + 4 + length:]
            done += 1
            if time.monotonic() < deadline:
                sock.send(request)
            else:
                poll.unregister(fd)
                sock.close()
                del socks[fd]
    poll.close()
    return {"n": done, "bad": bad, "seconds": time.monotonic() - started}


def paced(port: int, seconds: float, rate: float) -> dict:
    """One keep-alive connection sending a request ``rate`` times a second (each when its time
    comes, its answer read before the next), alternately ``GET /?name=bench`` (MainHandler, the
    one traced) and ``GET /plain?name=bench`` (PlainHandler, its twin, never traced): a handler
    called at a real application's rate, whose code runs cold between calls, beside its untraced
    twin called in the same moments."""
    requests = [f"GET {path}?name=bench HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() for path in ("/", "/plain")]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    done = bad = 0
    started = time.monotonic()
    due = started
    while due < started + seconds:
        time.sleep(max(0.0, due - time.monotonic()))
        sock.sendall(requests[done % 2])
        buf = b""
        while (end := buf.find(b"\r\n\r\n")) < 0 or len(buf) < end + 4 + _length(buf, end):
            buf += sock.recv(65536)
        bad += not buf.startswith(b"HTTP/1.1 200")
        done += 1
        due += 1.0 / rate
    sock.close()
    return {"n": done, "bad": bad, "seconds": time.monotonic() - started}


def _length(buf: bytes, end: int) -> int:
    at = buf.find(b"Content-Length: ", 0, end)
    return int(buf[at + 16:buf.find(b"\r\n", at)]) if at >= 0 else 0


def client_main() -> None:
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("rate"):
            out = paced(cmd["port"], cmd["seconds"], cmd["rate"])
        else:
            out = load(cmd["port"], cmd["seconds"], cmd["conns"])
        print(json.dumps(out), flush=True)


class Process:
    """This script run as ``--server`` or ``--client``, driven by JSON lines on its stdin/stdout."""

    def __init__(self, role: str) -> None:
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), role], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.proc.args[-1]} process died")
        return json.loads(line)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def handler_rounds(rounds: int, seconds: float, conns: int, rate: float = 0.0) -> dict[str, list[dict]]:
    """Alternating rounds (ABBA) of the server untraced and traced, the load flat out (``rate``
    0) or paced at ``rate`` requests a second; per case, one dict per round: cpu and loop (us per
    request), rps, gen0 and gcs (per 1,000 requests)."""
    server, client = Process("--server"), Process("--client")
    try:
        port = server.read()["port"]
        client.ask(port=port, seconds=min(seconds, 1.0), conns=conns)     # warm up
        out: dict[str, list[dict]] = {"untraced": [], "traced": []}
        for r in range(rounds):
            for case in (("untraced", "traced") if r % 2 == 0 else ("traced", "untraced")):
                answer = server.ask(cmd="trace" if case == "traced" else "untrace")
                if answer["error"] and case == "traced":
                    raise RuntimeError(f"{TRACE}: {answer['output']}")
                before = server.ask(cmd="mark")
                got = client.ask(port=port, seconds=seconds, conns=conns, rate=rate)
                after = server.ask(cmd="mark")
                n = got["n"]
                if got["bad"]:
                    raise RuntimeError(f"{got['bad']} answers were not 200 OK")
                recorded = after["matches"] - before["matches"]
                main = n // 2 if rate else n                  # (paced: half the requests are PlainHandler's)
                if (case == "traced") != (recorded >= main):
                    raise RuntimeError(f"{case}: {recorded} recordings for {main} requests of MainHandler")
                row = {"cpu": (after["cpu"] - before["cpu"]) / n * 1e6,
                       "loop": (after["loop"] - before["loop"]) / n * 1e6,
                       "rps": n / got["seconds"],
                       "gen0": (after["gen0"] - before["gen0"]) / n * 1000,
                       "gcs": (after["gcs"] - before["gcs"]) / n * 1000}
                if rate:   # per handler: the loop thread's CPU per request, and the other threads' per MainHandler request
                    routes = after["routes"]
                    row.update({name: statistics.fmean(routes[path]) * 1e6
                                for name, path in (("main", "/"), ("plain", "/plain"))})
                    row["others"] = ((after["cpu"] - before["cpu"]) - (after["loop"] - before["loop"])) / main * 1e6
                out[case].append(row)
        server.ask(cmd="trace")
        client.ask(port=port, seconds=0.2, conns=1)
        out["context"] = server.ask(cmd="context")
        return out
    finally:
        client.close()
        server.close()


def _paced_extras(u: list[dict], t: list[dict]) -> tuple[list[float], float, str]:
    """The paced case's cost of recording per MainHandler request, one figure per pair of rounds
    (the untraced round and the traced one beside it), in us: in each round MainHandler's
    requests alternate with PlainHandler's (its untraced twin), so the loop thread's difference
    between the two is taken in the same moments, whatever the machine does meanwhile; minus the
    same difference in the untraced round (what tells the two routes apart untraced); plus what
    the other threads (otrace's control thread) spent more per MainHandler request in the traced
    round. Also the median loop-thread part, and a note for the goal."""
    extras, loops = [], []
    for a, b in zip(u, t):
        loop = (b["main"] - b["plain"]) - (a["main"] - a["plain"])
        loops.append(loop)
        extras.append(loop + b["others"] - a["others"])
    med = statistics.median
    print("paced, per request of each handler (loop thread, us), every round: untraced main/plain "
          + ", ".join(f"{r['main']:.0f}/{r['plain']:.0f}" for r in u) + "; traced main/plain "
          + ", ".join(f"{r['main']:.0f}/{r['plain']:.0f}" for r in t))
    print("paced, recording's cost per MainHandler request, every pair of rounds (us): "
          + ", ".join(f"{e:+.1f}" for e in extras))
    note = (f"loop thread +{med(loops):.1f} us, other threads {med(b['others'] - a['others'] for a, b in zip(u, t)):+.1f} us; "
            f"untraced MainHandler {med(r['main'] for r in u):.0f} us, PlainHandler {med(r['plain'] for r in u):.0f} us a request")
    return extras, med(loops), note


# ---- the depth sweep (this process) ------------------------------------------------------------
def target(a, b=2):
    return a


def _descend(k, work):
    # padding locals: each frame takes ~300 bytes of the data stack, so that 1..70 frames sweep
    # more than one 16 KiB chunk of it (the boundary's cost shows at some depth)
    p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = p8 = p9 = p10 = p11 = p12 = p13 = p14 = p15 = None  # noqa: F841
    p16 = p17 = p18 = p19 = p20 = p21 = p22 = p23 = p24 = p25 = p26 = p27 = p28 = p29 = None  # noqa: F841
    if k > 1:
        return _descend(k - 1, work)
    return work()


def depth_sweep(depths: list[int], rounds: int, n: int) -> dict[int, dict]:
    """Per depth: pass-through ns, recording ns, ratio (median over rounds of each round's ratio),
    extra (recording - pass-through, median over rounds) and the recorded stack's length."""
    import _thread
    import functools
    import types

    from otrace_server.core.engine import Engine

    engine = Engine()
    ns = {"target": target}
    twin = types.FunctionType(target.__code__, target.__globals__, "target", target.__defaults__)

    @functools.wraps(twin)
    def passthrough(*args, **kwargs):
        return twin(*args, **kwargs)

    engine.tracer.trace("target", ns, condition="call")
    traced = ns["target"]
    results: dict[int, dict] = {}
    try:
        for depth in depths:
            box: list = []
            finished = threading.Event()

            def work(w=passthrough, t=traced, clock=time.thread_time_ns, box=box, finished=finished):
                try:
                    for _ in range(n // 10):          # warm up both
                        w(1)
                        t(1)
                    per_round = []
                    for _ in range(rounds):
                        a = clock()
                        for _ in range(n):
                            pass
                        b = clock()
                        for _ in range(n):
                            w(1)
                        c = clock()
                        for _ in range(n):
                            t(1)
                        e = clock()
                        per_round.append((b - a, c - b, e - c))
                    box.append(per_round)
                finally:
                    finished.set()

            if depth == 1:
                _thread.start_new_thread(work, ())
            else:
                _thread.start_new_thread(_descend, (depth - 1, work))
            finished.wait(60)
            frames = len(engine.store.latest().stack)
            empty = [r[0] / n for r in box[0]]
            base = [max(r[1] / n - e, 0.1) for r, e in zip(box[0], empty)]
            rec = [max(r[2] / n - e, 0.1) for r, e in zip(box[0], empty)]
            results[depth] = {"pass": statistics.median(base), "record": statistics.median(rec),
                              "ratio": statistics.median(c / b for b, c in zip(base, rec)),
                              "extra": statistics.median(c - b for b, c in zip(base, rec)), "frames": frames}
    finally:
        engine.tracer.untrace_all()
    return results


def worst_neighbour(results: dict[int, dict]) -> tuple[float, int]:
    """(ratio, depth): the largest recording cost (over the pass-through) of a depth divided by the
    larger of its two neighbours' (1.0 when there are too few depths)."""
    depths = sorted(results)
    worst, at = 1.0, depths[0]
    for before, depth, after in zip(depths, depths[1:], depths[2:]):
        if after - before != 2:
            continue
        ratio = results[depth]["extra"] / max(results[before]["extra"], results[after]["extra"], 1.0)
        if ratio > worst:
            worst, at = ratio, depth
    return worst, at


#: the most a stack depth's recording may cost over the dearer of its two neighbours'
NEIGHBOURS_LIMIT = 1.5
#: the rate of the paced case: a handler called as an application calls it, its code cold between calls
PACED_RATE = 200.0


def handler_goals(runs: dict, load_kind: str, how: str, paced: bool = False) -> list[Goal]:
    """Print the handler rounds of one load kind; their goals (CPU and gen-0; throughput flat out)."""
    med = statistics.median
    u, t = runs["untraced"], runs["traced"]

    def m(rows, key):
        return med(r[key] for r in rows)

    def every(rows, key):
        return ", ".join(f"{r[key]:.1f}" for r in rows)

    print(f"\nhandler, load {load_kind}: {how}")
    print("| case | server CPU us/request | loop thread us/request | requests/s | gen-0 per 1,000 | "
          "collections per 1,000 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows in (("untraced", u), ("traced -c call", t)):
        print(f"| {name} | {m(rows, 'cpu'):.1f} | {m(rows, 'loop'):.1f} | {m(rows, 'rps'):.0f} | "
              f"{m(rows, 'gen0'):.1f} | {m(rows, 'gcs'):.1f} |")
    print(f"server CPU per request, every round: untraced {every(u, 'cpu')}; traced {every(t, 'cpu')}")
    print(f"gen-0 per 1,000, every round: untraced {every(u, 'gen0')}; traced {every(t, 'gen0')}")
    print(f"the last context: {runs['context']}")
    gen0_base = max(m(u, "gen0"), 1.0)
    key = "handler_record.paced_" if paced else "handler_record."
    if paced:
        extras, loop_extra, note = _paced_extras(u, t)
        extra = med(extras)
        note = f"{note}; pairs of rounds {min(extras):+.1f} .. {max(extras):+.1f} us, n={len(extras)}"
    else:   # per round pairs (ABBA: each traced round beside the untraced one of its pair)
        extra = med(b["cpu"] - a["cpu"] for a, b in zip(u, t))
        loop_extra = med(b["loop"] - a["loop"] for a, b in zip(u, t))
        note = f"untraced {m(u, 'cpu'):.1f} us/request; loop thread alone +{loop_extra:.1f} us"
    goals = [
        Goal(key + "cpu", f"a handler recorded on every request ({load_kind}): server CPU per request over "
             "the untraced server", extra, "<=", 10.0, unit="us", note=note),
        Goal(key + "gen0", f"gen-0 collections per 1,000 requests ({load_kind}), recorded vs untraced "
             "(untraced counted as at least 1)", m(t, "gen0") / gen0_base, "<=", 2.0,
             note=f"untraced {m(u, 'gen0'):.1f}, recorded {m(t, 'gen0'):.1f} per 1,000"),
    ]
    if not paced:
        throughput = med(b["rps"] / a["rps"] for a, b in zip(u, t))
        goals.insert(1, Goal(key + "throughput", "requests/s, handler recorded on every request vs untraced",
                             throughput, ">=", 0.95, note=f"untraced {m(u, 'rps'):.0f} req/s"))
    return goals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few short rounds, few depths")
    parser.add_argument("--only", choices=("handler", "depth"), help="run one part")
    add_json_argument(parser)
    args = parser.parse_args(argv)
    quick = args.quick
    goals: list[Goal] = []
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; load average "
          f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.only != "depth":
        # many short rounds rather than a few long ones: each goal is the median of the rounds'
        # pairs, and a pair is moved by whatever else the machine runs meanwhile
        rounds, seconds, conns = (2, 1.5, 16) if quick else (10, 2.5, 16)
        goals += handler_goals(handler_rounds(rounds, seconds, conns), "flat out",
                               f"{rounds} rounds of each case, {seconds:g} s each, {conns} keep-alive connections")
        rounds, seconds = (3, 1.0) if quick else (12, 2.0)
        goals += handler_goals(handler_rounds(rounds, seconds, 1, PACED_RATE), f"at {PACED_RATE:g} requests/s",
                               f"{rounds} rounds of each case, {seconds:g} s each, one connection", paced=True)
    if args.only != "handler":
        depths = [1, 2, 3, 9, 10, 11, 32, 33, 34, 63, 64, 65] if quick else list(range(1, 71))
        rounds, n = (3, 1000) if quick else (7, 2000)
        results = depth_sweep(depths, rounds, n)
        print(f"\ndepth: recording ('call') vs a pass-through wrapper, thread CPU time, median of {rounds} rounds "
              f"of {n:,} calls each")
        print("| depth | frames recorded | pass-through ns | recording ns | ratio | recording - pass-through ns |")
        print("|---:|---:|---:|---:|---:|---:|")
        for depth, r in results.items():
            print(f"| {depth} | {r['frames']} | {r['pass']:.0f} | {r['record']:.0f} | {r['ratio']:.2f}x | "
                  f"{r['extra']:.0f} |")
        spike, at = worst_neighbour(results)
        for _ in range(2):     # a depth dearer than its neighbours is measured again with them:
            if spike <= NEIGHBOURS_LIMIT:   # a chunk boundary shows every time, a busy machine does not
                break
            again = depth_sweep([at - 1, at, at + 1], rounds, n)
            print(f"depth {at} cost {spike:.2f}x its neighbours; measured again: "
                  + ", ".join(f"{d}: {r['extra']:.0f} ns" for d, r in again.items()))
            for depth, r in again.items():
                measured = results[depth].setdefault("measured", [results[depth]["extra"]])
                measured.append(r["extra"])
                results[depth]["extra"] = statistics.median(measured)
            spike, at = worst_neighbour(results)
        goals += [
            Goal("handler_record.depth10", "recording at 10 frames vs pass-through", results[10]["ratio"], "<=", 8.0),
            Goal("handler_record.depth64", "recording at 64 frames vs pass-through", results[64]["ratio"], "<=", 10.0),
            Goal("handler_record.neighbours", "the dearest stack depth vs its neighbours (recording over "
                 "pass-through)", spike, "<=", NEIGHBOURS_LIMIT, note=f"at depth {at}"),
        ]
    print()
    return report(goals, args.json)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--server"]:
        serve()
    elif sys.argv[1:2] == ["--client"]:
        client_main()
    else:
        sys.exit(main())
