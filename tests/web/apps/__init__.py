"""Small apps of each framework, written as the framework's own documentation writes them, with
otrace's /osh/web routes under /otrace: ``/`` is ``PAGE`` (it includes otrace-web.js), ``/hold`` holds
(``traceassert(..., action="hold")``, label ``web_hold``) and answers "resumed". Each has its own
``REGISTRY`` naming a browser by its ``who`` cookie."""

PAGE = """<!DOCTYPE html><html><head><title>t</title></head><body>
<input id="message"><script src="/otrace/otrace-web.js"></script></body></html>"""
