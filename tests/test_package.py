"""The public face of the package: its exports, a side-effect-free import, and what `pip install .` ships."""

from __future__ import annotations

import ast
import email.parser
import re
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

HEAVY = ["tornado", "pygls", "lsprotocol", "debugpy"]

PROBE = f"""
import json, sys, threading
before = {{t.ident for t in threading.enumerate()}}
import otrace_server
from otrace_server.core.engine import Engine
import gc
engines = sum(type(o) is Engine for o in gc.get_objects())
otrace_server.traceassert(False)                      # trace_active is False: nothing made, nothing kept
engines_after_assert = sum(type(o) is Engine for o in gc.get_objects())
otrace_server.get_engine().settings.set("trace_active", True)
otrace_server.traceassert(False, label="probe")       # the first engine is the one traceassert reports to
print(json.dumps({{
    "engines": [engines, engines_after_assert],
    "recorded": [c.label for c in otrace_server.get_engine().store.recent("asserts")],
    "heavy": [m for m in {HEAVY!r} if m in sys.modules],
    "ours": sorted(m for m in sys.modules if m.startswith("otrace_server")),
    "new_threads": [t.name for t in threading.enumerate() if t.ident not in before],
}}))
"""


def test_import_is_light_and_starts_nothing(repo_root):
    """Importing the package loads only core: no tornado/pygls/debugpy, no event loop, no thread,
    no engine (the default one is made by the first get_engine(), and traceassert reports to it)."""
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=repo_root, capture_output=True,
                          text=True, timeout=60, check=True)
    probe = json.loads(done.stdout)
    assert probe["heavy"] == []
    assert probe["new_threads"] == []
    assert probe["engines"] == [0, 0]
    assert probe["recorded"] == ["probe"]
    assert "otrace_server.core.engine" in probe["ours"]
    assert [m for m in probe["ours"] if m != "otrace_server" and not m.startswith("otrace_server.core")] == []


def test_public_exports():
    import otrace_server

    assert sorted(otrace_server.__all__) == sorted(
        ["traceassert", "start", "stop", "get_engine", "OTraceError", "tag", "untag", "get_tag"])
    for name in otrace_server.__all__:
        assert callable(getattr(otrace_server, name)), name
    assert issubclass(otrace_server.OTraceError, Exception)
    assert otrace_server.get_engine() is otrace_server.get_engine()


def test_unknown_attribute_is_an_attribute_error():
    import otrace_server

    try:
        otrace_server.no_such_name
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("otrace_server.no_such_name did not raise AttributeError")


def _source_version(init_file: Path) -> str:
    """The literal assigned to ``__version__`` in otrace_server/__init__.py."""
    for node in ast.parse(init_file.read_text()).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no __version__ in {init_file}")


def _build_wheel(repo_root: Path, tmp_path: Path) -> zipfile.ZipFile:
    """Build the wheel from a copy of what `pip install .` reads (no network: --no-build-isolation)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo_root / name, source / name)
    shutil.copytree(repo_root / "otrace_server", source / "otrace_server",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-input", "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, timeout=120, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("otrace_server-*.whl")
    return zipfile.ZipFile(wheel)


def test_wheel_ships_the_package_metadata_and_console_script(repo_root, tmp_path):
    wheel = _build_wheel(repo_root, tmp_path)
    names = set(wheel.namelist())
    package = repo_root / "otrace_server"
    expected = {p.relative_to(repo_root).as_posix() for p in package.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix == ".py"}
    expected |= {p.relative_to(repo_root).as_posix() for p in package.glob("web/static/*.js")}
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    version = _source_version(package / "__init__.py")
    dist_info = f"otrace_server-{version}.dist-info"
    assert not [n for n in names if n.split("/")[0] not in ("otrace_server", dist_info)]

    metadata = email.parser.Parser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
    assert metadata["Name"] == "otrace-server"
    assert metadata["Version"] == version
    assert metadata["Requires-Python"] == ">=3.11"
    requires = metadata.get_all("Requires-Dist")
    assert "debugpy==1.8.22" in requires
    assert any(r.startswith("pygls") and "<2.2" in r for r in requires)   # pygls internals: a tested range
    assert {re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0] for r in requires} >= {
        "tornado", "pygls", "lsprotocol", "debugpy", "pytest", "pytest-timeout", "hypothesis", "pexpect", "playwright"}

    entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert "[console_scripts]\notrace = otrace_server.cli:main" in entry_points


def test_console_script_target_is_callable():
    from otrace_server.cli import main

    assert callable(main)
