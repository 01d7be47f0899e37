"""Helpers shared by the test packages: a Content-Length framed socket client (``framed``), a
Tornado app served for real on a loop thread (``appserver``), an asyncio loop on a thread of its
own (``loops``) and an app process's audit log read as records (``auditfile``)."""
