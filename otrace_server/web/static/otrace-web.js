/* otrace-web.js: lets the otrace shell evaluate JavaScript in this page (/osh/web/<name>).
 *
 * Include it in a page served by an app that added otrace_server.web.handlers("/otrace"):
 *     <script src="/otrace/otrace-web.js"></script>
 * It connects to <same directory>/ws by itself (and reconnects with backoff). To carry otrace's
 * messages on the app's own socket instead (server side: OTraceWebMixin), write
 *     <script src="/otrace/otrace-web.js" data-connect="false"></script>
 * and call OTraceWeb.attach(ws) on the app's WebSocket; the app's own onmessage should ignore
 * messages for which OTraceWeb.isOTrace(event.data) is true.
 *
 * Protocol (JSON): server -> page {otrace: "eval", id, expr}; page -> server {otrace: "hello", url}
 * and {otrace: "result", id, value} or {otrace: "result", id, error}. An expression is evaluated as
 * `return (EXPR)` in an async function (so `await` works); if that does not parse, as a script
 * (completion value of statements), else as an async function body. Results: JSON for plain data,
 * String(x) otherwise; thrown errors come back as their message. Plain JavaScript, no libraries.
 */
(function () {
  "use strict";

  var MAX_TEXT = 512 * 1024;
  var AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;

  function compile(expr) {
    try {
      return new AsyncFunction("return (\n" + expr + "\n);");
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
    }
    try {
      new Function(expr); // parses as statements without await: run as a script for its value
      return function () { return (0, eval)(expr); };
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
    }
    return new AsyncFunction(expr); // statements with await (a SyntaxError here is the user's)
  }

  function isPlain(v) {
    if (v === null || typeof v === "boolean" || typeof v === "string") return true;
    if (typeof v === "number") return isFinite(v);
    if (typeof v !== "object") return false;
    if (Array.isArray(v)) return true;
    var proto = Object.getPrototypeOf(v);
    return proto === Object.prototype || proto === null;
  }

  function format(v) {
    var text;
    if (v === undefined) return "undefined";
    if (isPlain(v)) {
      try { text = JSON.stringify(v); } catch (e) { text = undefined; }
    }
    if (text === undefined) {
      try { text = String(v); } catch (e) { text = Object.prototype.toString.call(v); }
    }
    return text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) + "... (truncated)" : text;
  }

  function errorText(e) {
    var text;
    try { text = e instanceof Error ? e.name + ": " + e.message : "uncaught " + format(e); }
    catch (x) { text = "error"; }
    return text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) + "... (truncated)" : text;
  }

  function evaluate(ws, msg) {
    function reply(body) {
      body.otrace = "result";
      body.id = msg.id;
      if (ws.readyState === 1) ws.send(JSON.stringify(body));
    }
    var run;
    try { run = compile(String(msg.expr)); } catch (e) { reply({error: errorText(e)}); return; }
    Promise.resolve()
      .then(function () { return run(); })
      .then(function (v) { reply({value: format(v)}); }, function (e) { reply({error: errorText(e)}); });
  }

  function parse(data) {
    if (typeof data !== "string") return null;
    try {
      var msg = JSON.parse(data);
      return msg && typeof msg === "object" && "otrace" in msg ? msg : null;
    } catch (e) { return null; }
  }

  function attach(ws) {
    function hello() { ws.send(JSON.stringify({otrace: "hello", url: String(location.href)})); }
    if (ws.readyState === 1) hello(); else ws.addEventListener("open", hello);
    ws.addEventListener("message", function (event) {
      var msg = parse(event.data);
      if (msg && msg.otrace === "eval") evaluate(ws, msg);
    });
    return ws;
  }

  function connect(url) {
    var delay = 1000;
    var api = {socket: null, closed: false, close: function () { api.closed = true; if (api.socket) api.socket.close(); }};
    function open() {
      var ws = attach(new WebSocket(url));
      api.socket = ws;
      ws.addEventListener("open", function () { delay = 1000; });
      ws.addEventListener("close", function () {
        if (api.closed) return;
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      });
    }
    open();
    return api;
  }

  function socketUrl(scriptSrc) {
    var u = new URL("ws", scriptSrc || location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u.href;
  }

  var api = {attach: attach, connect: connect, isOTrace: function (data) { return parse(data) !== null; },
             socketUrl: socketUrl, connection: null};
  window.OTraceWeb = api;

  var me = document.currentScript;
  if (me && me.getAttribute("data-connect") !== "false") {
    api.connection = connect(me.getAttribute("data-url") || socketUrl(me.src));
  }
})();
