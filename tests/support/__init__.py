"""Helpers shared by the test packages: a Content-Length framed socket client (``framed``) and a
Tornado app served for real on a loop thread (``appserver``)."""
