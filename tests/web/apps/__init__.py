"""Small apps of each framework, written as the framework's own documentation writes them, with
otrace's /osh/web routes under /otrace: ``/`` is ``PAGE`` (it includes otrace-web.js), ``/hold`` holds
(``traceassert(..., action="hold")``, label ``web_hold``) and answers "resumed". Each serves /osh/web
with otrace_server.web's default registry, whose identity is the app's ``identity`` (the browser's
``who`` cookie), as a program does (then ``otrace app.py`` serves /osh/web with no more code).
``python -m tests.web.apps.<name> PORT`` serves one on 127.0.0.1:PORT (0: a free one, said in the
server's "Running on" line)."""

PAGE = """<!DOCTYPE html><html><head><title>t</title></head><body>
<input id="message"><script src="/otrace/otrace-web.js"></script></body></html>"""
