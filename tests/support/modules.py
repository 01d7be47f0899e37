"""A test module written to a file and imported for real (``inspect.getsource`` and the editor
helpers read its file), removed from ``sys.modules`` afterwards.

    with imported(tmp_path / "sample.py", "sample", SOURCE) as module:
        ...
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

__all__ = ["imported"]


@contextlib.contextmanager
def imported(path: Path, name: str, source: str) -> Iterator[ModuleType]:
    """``source`` written to ``path`` and imported as module ``name`` while inside."""
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
