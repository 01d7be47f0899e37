"""Build configuration beyond pyproject.toml: the optional C accelerator of the stack walk.

``otrace_server.core._stackwalk`` is optional: when it cannot be built (no C compiler, no Python
headers), installation goes on without it and otrace uses the same walk written in Python
(``otrace_server.core.frames``), which is several times slower per recorded context.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("otrace_server.core._stackwalk", ["otrace_server/core/_stackwalk.c"], optional=True)])
