// OpenID Connect Session Management 1.0 §3.3: the check_session_iframe. An RP's page posts
// "client_id session_state"; the answer is "unchanged" when the session_state still matches this
// browser's state (the browser-state cookie) for the RP's origin, "changed" when it does not, and
// "error" for a message that is not of that form.
"use strict";
(function () {
  var cookieName = document.documentElement.getAttribute("data-cookie");

  function browserState() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === cookieName) return parts[i].slice(eq + 1);
    }
    return "";
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  window.addEventListener("message", function (event) {
    var reply = function (answer) { event.source.postMessage(answer, event.origin); };
    var message = typeof event.data === "string" ? event.data.split(" ") : [];
    var salt = message.length === 2 ? message[1].split(".")[1] : undefined;
    if (!message[0] || !salt || !window.crypto || !window.crypto.subtle) {
      reply("error");
      return;
    }
    var text = message[0] + " " + event.origin + " " + browserState() + " " + salt;
    window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then(function (digest) {
      reply(hex(digest) + "." + salt === message[1] ? "unchanged" : "changed");
    }, function () { reply("error"); });
  });
})();
