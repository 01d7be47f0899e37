"""control.listing: the text ``otrace ps`` prints, a fleet's workers under one header line (also for
another host's records, read over ssh)."""

from __future__ import annotations

from otrace_server.control.listing import ps_lines


def _record(pid, started, fleet=None, argv=("app.py",)):
    return {"pid": pid, "started": started, "lsp_port": 40000 + pid, "dap_port": None, "argv": list(argv),
            "cwd": "/srv", "fleet": fleet}


def test_a_fleet_is_one_header_line_and_its_workers_under_it():
    shop = {"id": "shop", "name": "shop"}
    lines = ps_lines([_record(1, 1.0), _record(3, 3.0, shop, ("w.py",)), _record(2, 2.0, shop, ("w.py",))], " on web1")
    assert lines[0].split() == ["PID", "LSP", "DAP", "STARTED", "COMMAND"]
    assert lines[1].endswith("app.py  (cwd /srv)") and lines[1].split()[0] == "1"
    assert lines[2] == "fleet shop [shop]: 2 workers  w.py  (cwd /srv)"
    assert [line.split()[0] for line in lines[3:]] == ["2", "3"]
    assert lines[3].endswith("    worker 2") and "40002" in lines[3] and " - " in lines[3]   # no DAP port


def test_nothing_to_list_says_where():
    assert ps_lines([], " on web1") == ["no otrace processes on web1"]
