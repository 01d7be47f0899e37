"""The text ``otrace ps`` prints: the discovery records of one host, a fleet's workers under one
header line (``control.fleet.group``), a process alone on one line.

        PID    LSP    DAP  STARTED              COMMAND
      12001  40001  40002  2026-12-05 02:00:00  python app.py  (cwd /srv/app)
    fleet torna_fleet.py [ppid-4242]: 3 workers  python demos/torna_fleet.py --workers 3  (cwd /srv/shop)
       4243  40011  40012  2026-12-05 02:01:00    worker 4243
       ...

Thread-safety: pure functions, any thread.
"""

from __future__ import annotations

import time

from otrace_server.control.fleet import group, worker_label

__all__ = ["ps_lines"]


def _command(record: dict) -> str:
    return f"{' '.join(record.get('argv') or [])}  (cwd {record.get('cwd', '?')})"


def _row(record: dict, what: str) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.get("started") or 0))
    return (f"{record.get('pid', '?'):>7}  {record.get('lsp_port') or '-':>5}  {record.get('dap_port') or '-':>5}  "
            f"{started:19}  {what}")


def ps_lines(records: list[dict], where: str = "") -> list[str]:
    """The lines of ``otrace ps`` for ``records`` (``where``: `` on HOST`` for another host's):
    a header, then each fleet (a header line, its workers indented, each as ``worker <pid>``) and
    each process alone, in the order they started."""
    if not records:
        return [f"no otrace processes{where}"]
    lines = [f"{'PID':>7}  {'LSP':>5}  {'DAP':>5}  {'STARTED':19}  COMMAND"]
    for fleet, workers in group(records):
        if fleet is None:
            lines.append(_row(workers[0], _command(workers[0])))
            continue
        count = f"{len(workers)} worker{'s' if len(workers) != 1 else ''}"
        lines.append(f"fleet {fleet.get('name') or fleet['id']} [{fleet['id']}]: {count}  {_command(workers[0])}")
        lines.extend(_row(worker, "  " + worker_label(worker)) for worker in workers)
    return lines
