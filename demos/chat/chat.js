// The chat page: one websocket carries chat messages and otrace's /osh/web messages.
(function () {
  "use strict";
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/chatsocket";
  var socket = new WebSocket(url);
  OTraceWeb.attach(socket);

  socket.addEventListener("message", function (event) {
    if (OTraceWeb.isOTrace(event.data)) return;       // otrace's, handled by otrace-web.js
    var message = JSON.parse(event.data);
    if (document.getElementById(message.id)) return;
    var inbox = document.getElementById("inbox");
    var div = document.createElement("div");
    div.innerHTML = message.html;
    inbox.appendChild(div.firstElementChild || div);
    inbox.scrollTop = inbox.scrollHeight;
  });

  document.getElementById("messageform").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("message");
    if (input.value && socket.readyState === 1) {
      socket.send(JSON.stringify({body: input.value}));
      input.value = "";
    }
  });
  window.chatSocket = socket;
})();
