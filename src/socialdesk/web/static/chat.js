/* The visitor chat page: local times, keep the newest message in view, Ctrl+Enter sends. */
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time.bubble-time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    });
  }
  function toBottom() {
    var list = document.getElementById("chat-messages");
    if (list) list.scrollTop = list.scrollHeight;
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); toBottom(); });
  document.addEventListener("htmx:afterSwap", function (e) {
    localTimes(document);
    toBottom();
    if (e.detail.target && e.detail.target.id === "chat-main") {
      var area = document.getElementById("chat-text");
      if (area) area.focus();
    }
  });
  // Key handling below is live from here on (tests wait for it before pressing keys).
  document.documentElement.setAttribute("data-sd-ready", "1");
  document.addEventListener("keydown", function (e) {
    // Inside the widget's panel, Escape asks the host page to close it (the host cannot see
    // key presses made inside the frame).
    if (e.key === "Escape" && document.body.classList.contains("embedded") && window.parent !== window) {
      window.parent.postMessage({ socialdesk: "close" }, "*");
      return;
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.id === "chat-text" && e.target.form) {
      e.preventDefault();
      e.target.form.requestSubmit();
    }
  });
})();
