"""A Tornado app holding a request whose locals are the hostile zoo (tests/support/hostile.py),
for the LSP and DAP tests (run as a subprocess; exits at stdin EOF; prints
``READY <http_port> <lsp_port>``).

    /hostile    holds (traceassert ... action="hold") with every zoo object a local of ``get``
"""

import os
import sys

import tornado.web

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from otrace_server import traceassert  # noqa: E402
from tests.support.hostile import make_zoo  # noqa: E402


def nothing():
    return None


class HostileHandler(tornado.web.RequestHandler):
    async def get(self):
        zoo = make_zoo()
        answers_everything, getattribute_raises, class_raises = (zoo["answers_everything"], zoo["getattribute_raises"],
                                                                 zoo["class_raises"])
        repr_huge, hostile_keys, hostile_set = zoo["repr_huge"], zoo["hostile_keys"], zoo["hostile_set"]
        huge_int, nested, recursive_list = zoo["huge_int"], zoo["nested"], zoo["recursive_list"]
        raising_class, module_like, hostile_key = zoo["RaisingClass"], zoo["module_like"], zoo["hostile_key"]
        await traceassert(False, label="hostile_hold", action="hold")
        self.write(f"resumed with {len(zoo)} hostile locals")


def main():
    from tests.support.testapp import serve_until_stdin_eof

    serve_until_stdin_eof([(r"/hostile", HostileHandler)], globals(), "nothing")


if __name__ == "__main__":
    main()
