/* socialdesk chat widget. Embed on a website with
     <script src="https://DESK/chat/PUBLIC_KEY/widget.js" async></script>
   Optional attributes on the script tag: data-label="Chat with us", data-color="#1d4ed8".
   It adds a floating button that opens the chat page in a panel (an iframe), nothing else:
   no cookies on the host page, no access to it. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__socialdeskWidget) return;
  window.__socialdeskWidget = true;
  var chatUrl = script.src.replace(/\/widget\.js(\?.*)?$/, "");
  var label = script.getAttribute("data-label") || "Chat with us";
  var color = script.getAttribute("data-color") || "#1d4ed8";

  function start() {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", "socialdesk-chat-panel");
    button.style.cssText = [
      "position:fixed", "right:20px", "bottom:20px", "z-index:2147483000",
      "padding:12px 18px", "border:0", "border-radius:999px", "cursor:pointer",
      "font:600 15px/1.2 system-ui,-apple-system,Segoe UI,Roboto,Arial,sans-serif",
      "color:#fff", "background:" + color, "box-shadow:0 4px 14px rgba(0,0,0,.25)"
    ].join(";");

    var panel = document.createElement("div");
    panel.id = "socialdesk-chat-panel";
    panel.hidden = true;
    panel.style.cssText = [
      "position:fixed", "right:20px", "bottom:80px", "z-index:2147483000",
      "width:min(380px,calc(100vw - 40px))", "height:min(560px,calc(100vh - 120px))",
      "border-radius:14px", "overflow:hidden", "box-shadow:0 10px 30px rgba(0,0,0,.3)", "background:#fff"
    ].join(";");

    var frame = null;
    function toggle(open) {
      if (open && !frame) {
        frame = document.createElement("iframe");
        frame.src = chatUrl + "?embed=1";
        frame.title = label;
        frame.style.cssText = "width:100%;height:100%;border:0;display:block";
        panel.appendChild(frame);
      }
      panel.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (open && frame) frame.focus();
    }
    button.addEventListener("click", function () { toggle(panel.hidden); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !panel.hidden) { toggle(false); button.focus(); }
    });
    // Escape pressed inside the chat: the frame says so (and only our frame is listened to).
    window.addEventListener("message", function (e) {
      if (frame && e.source === frame.contentWindow && e.data && e.data.socialdesk === "close") {
        toggle(false);
        button.focus();
      }
    });
    document.body.appendChild(panel);
    document.body.appendChild(button);
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
