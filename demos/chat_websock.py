#!/usr/bin/env python3
"""chat_websock.py: Tornado's websocket chat demo with a name-only login, traced with otrace.

    python demos/chat_websock.py [--port 8888] [--addr 127.0.0.1] [--no-console] [--no-lsp]

Open http://127.0.0.1:8888/ in two browsers, log in as user1 and user2 and chat. Each page is a
browser under /osh/web (a second tab of user1 is user1#2); in the otrace console::

    globals> cd /osh/web
    web> ls -l
    web> set safe_mode False
    web> cd user1
    web..user1> document.body.style.background = "red"          # user1's page turns red
    web..user1> repeat "User is typing: " + document.querySelector("#message").value
    web..user1> cd /osh/web/*
    web..*> document.title                                        # one line per browser

The chat socket carries otrace's messages too (``OTraceWebMixin``); names come from the login
cookie (``identity`` below). Posting a message that contains "hold" holds that request
(``traceassert``; ``trace_active`` is set at start) while the page's user is a connected browser:
``__trc`` of the hold shows ``web_client``.

Flags for tests: ``--port 0`` picks a free port (the line "Listening on http://ADDR:PORT" says
which); ``--exit-on-stdin-eof`` exits when stdin reaches EOF (implies ``--no-console``).
"""

import argparse
import json
import os
import secrets
import sys
import uuid

import tornado.escape
import tornado.template
import tornado.web
import tornado.websocket

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import otrace_server.web as otrace_web  # noqa: E402
from otrace_server import traceassert  # noqa: E402
from otrace_server.serving import serve  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chat")
COOKIE = "chatuser"

# The chat state (browse it in the shell: /osh/globals/Chat)
Chat = {"messages": [], "sockets": set(), "cache_size": 200}


def identity(handler):
    """The /osh/web name of a browser: the logged-in user of its cookie (None: not logged in)."""
    user = handler.get_signed_cookie(COOKIE)
    return user.decode() if user else None


class BaseHandler(tornado.web.RequestHandler):
    def get_current_user(self):
        return identity(self)


class MainHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self):
        self.render("index.html", user=self.current_user, messages=Chat["messages"])


class LoginHandler(BaseHandler):
    def get(self):
        self.render("login.html")

    def post(self):
        name = self.get_argument("name", "").strip()
        if not name:
            self.redirect("/login")
            return
        self.set_signed_cookie(COOKIE, name[:40], httponly=True, samesite="Lax")   # not sent by cross-site POSTs
        self.redirect("/")


class LogoutHandler(BaseHandler):
    def get(self):
        self.clear_cookie(COOKIE)
        self.redirect("/login")


class PostHandler(BaseHandler):
    """POST /post?body=...: posts a message over HTTP (holds when the body contains "hold")."""

    @tornado.web.authenticated
    async def post(self):
        body = self.get_argument("body")
        await traceassert("hold" not in body, label="hold_post", action="hold")
        message = new_message(self.current_user, body)
        broadcast(message)
        self.write({"id": message["id"]})


class ChatSocket(otrace_web.OTraceWebMixin, tornado.websocket.WebSocketHandler):
    """The chat socket; also otrace's /osh/web socket of the page (the mixin)."""

    def get_current_user(self):
        return identity(self)

    def open(self):
        if self.current_user is None:
            self.close(4001, "log in first")
            return
        self.otrace_open()
        Chat["sockets"].add(self)

    def on_message(self, message):
        if self.otrace_message(message):
            return
        body = chat_body(message)
        if body is not None:
            broadcast(new_message(self.current_user, body))

    def on_close(self):
        Chat["sockets"].discard(self)
        self.otrace_close()


def chat_body(message):
    """The text of a chat message ``{"body": "text"}`` (at most 2000 characters); None for any
    other message (not JSON, nested too deeply, not an object, a body that is not a string)."""
    try:
        data = json.loads(message)
    except (ValueError, RecursionError):   # UnicodeDecodeError (binary) is a ValueError
        return None
    body = data.get("body") if isinstance(data, dict) else None
    return body[:2000] if isinstance(body, str) else None


def new_message(user, body):
    message = {"id": "m" + uuid.uuid4().hex, "from": user, "body": body}
    message["html"] = tornado.escape.to_unicode(
        tornado.template.Loader(HERE).load("message.html").generate(message=message))
    Chat["messages"].append(message)
    del Chat["messages"][: -Chat["cache_size"]]
    return message


def broadcast(message):
    text = json.dumps(message)
    for socket in list(Chat["sockets"]):
        try:
            socket.write_message(text)
        except tornado.websocket.WebSocketClosedError:
            Chat["sockets"].discard(socket)


def make_app():
    routes = [
        (r"/", MainHandler),
        (r"/login", LoginHandler),
        (r"/logout", LogoutHandler),
        (r"/post", PostHandler),
        (r"/chatsocket", ChatSocket),
    ]
    return tornado.web.Application(
        routes + otrace_web.handlers("/otrace"),
        cookie_secret=secrets.token_hex(32), login_url="/login", template_path=HERE, static_path=HERE,
        xsrf_cookies=False,
    )


def start_otrace(io_loop, *, console=None, lsp=True, host="127.0.0.1"):
    """Start otrace beside the app and make it the provider of /osh/web (names from ``identity``).
    Returns the otrace App (``.shell``, ``.runtime``, ``.stop()``)."""
    from otrace_server.app import start

    started = start(globals(), app_loop=io_loop, console=console, lsp=lsp, host=host, trace_active=True)
    otrace_web.get_registry().attach(started.shell, started.runtime, identity=identity)
    return started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8888, help="port to listen on (0: a free port)")
    parser.add_argument("--addr", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--no-console", action="store_true", help="do not start the terminal console")
    parser.add_argument("--no-lsp", action="store_true", help="do not start the language server")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin reaches EOF")
    args = parser.parse_args(argv)

    console = False if (args.no_console or args.exit_on_stdin_eof) else None
    try:
        serve(make_app(), args.port, args.addr, exit_on_stdin_eof=args.exit_on_stdin_eof,
              attach=lambda io_loop: start_otrace(io_loop, console=console, lsp=not args.no_lsp, host=args.addr))
    finally:
        otrace_web.get_registry().detach()


if __name__ == "__main__":
    main()
