"""placement.promote: a live patch against its source file as the file is now."""

from __future__ import annotations

import importlib
import sys

import pytest

from otrace_server.core.engine import Engine
from otrace_server.core.errors import OTraceError
from otrace_server.placement.promote import locate_def, patch_change

MODULE = "import functools\n\n\nclass Box:\n    @functools.lru_cache  # noqa\n    def unused(self):\n        return 0\n\n    def size(self, n):\n        return n * 2\n"


@pytest.fixture
def box(tmp_path, monkeypatch):
    (tmp_path / "boxmod.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("boxmod", None)
    yield importlib.import_module("boxmod"), tmp_path / "boxmod.py"
    sys.modules.pop("boxmod", None)


def test_locate_def_finds_a_method_with_its_decorators():
    assert locate_def(MODULE, "Box.unused") == (5, 7)
    assert locate_def(MODULE, "Box.size") == (9, 10)
    assert locate_def(MODULE, "Box.gone") is None and locate_def("def (", "f") is None


def test_the_diff_follows_the_file_as_it_is_now_and_promotes_exactly_the_live_code(box):
    module, path = box
    engine = Engine()
    patch = engine.patcher.patch("Box.size", "def size(self, n):\n    return n * 3\n", vars(module))
    path.write_text("# a line added above\n" + MODULE)          # the file moved on since it was loaded
    change = patch_change(patch)
    assert (change.file, change.start_line, change.end_line) == (str(path), 10, 11)
    assert change.original == "    def size(self, n):\n        return n * 2\n"
    assert change.live == "    def size(self, n):\n        return n * 3\n"
    assert "-        return n * 2\n+        return n * 3\n" in change.diff and "@@ -8,4 +8,4 @@" in change.diff
    lines = path.read_text().splitlines(keepends=True)
    lines[change.start_line - 1:change.end_line] = [change.live]
    path.write_text("".join(lines))                              # what the editor's promote does
    assert patch_change(patch).diff == ""


def test_crlf_files_keep_their_line_ending_and_a_gone_function_is_an_error(box):
    module, path = box
    engine = Engine()
    patch = engine.patcher.patch("Box.size", "def size(self, n):\n    return 0\n", vars(module))
    path.write_bytes(MODULE.replace("\n", "\r\n").encode())
    assert patch_change(patch).live == "    def size(self, n):\r\n        return 0\r\n"
    path.write_text(MODULE.replace("def size", "def length"))
    with pytest.raises(OTraceError, match="'def size' of Box.size is no longer in"):
        patch_change(patch)
