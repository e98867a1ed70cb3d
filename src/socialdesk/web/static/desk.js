/* socialdesk desk: the few things HTMX does not do. Keyboard shortcuts, the live indicator,
   the reply length counter, colleagues to mention in a note, and which live events concern
   the open conversation. */
(function () {
  "use strict";

  function conversationId() {
    var el = document.querySelector("[data-conversation-id].conversation");
    return el ? Number(el.getAttribute("data-conversation-id")) : null;
  }

  var gone = null;

  // Used in hx-trigger filters: does this server-sent event concern the open conversation?
  window.sdMine = function (event) {
    try {
      var data = JSON.parse(event.detail.data);
      var mine = conversationId();
      if (mine === null) return false;
      if (data.conversation_id === mine) return true;
      // Events about several conversations at once. A merge folds them into conversation_id;
      // an erasure deletes them. Either way the open one may be gone: remembered for the
      // answer of the refresh that follows (see htmx:responseError).
      if (Array.isArray(data.merged_ids) && data.merged_ids.indexOf(mine) !== -1) {
        gone = { reason: "merged", into: data.conversation_id };
        return true;
      }
      if (Array.isArray(data.conversation_ids) && data.conversation_ids.indexOf(mine) !== -1) {
        gone = { reason: "erased" };
        return true;
      }
      return false;
    } catch (e) {
      return false;
    }
  };

  // Used in hx-trigger filters: refresh a panel only while nobody is editing a field in it,
  // so a colleague's change never wipes what you are typing. Skipped refreshes run when
  // focus leaves the panel.
  function dirty(field) {
    if (field.type === "hidden" || field.type === "submit") return false;
    if (field.tagName === "SELECT") {
      // Without a selected="" option the browser shows the first one.
      var initial = Array.prototype.findIndex.call(field.options, function (o) { return o.defaultSelected; });
      return field.selectedIndex !== Math.max(initial, 0);
    }
    if (field.type === "datetime-local") return false;  // prefilled with a suggestion
    return field.value !== field.defaultValue;
  }

  // Typing in a field, a changed field, or a box the person opened and is working in
  // ("Close", "Edit": focus on its summary or inside it): a refresh would fold it away.
  // The panel is marked stale and refreshed when focus leaves it.
  function editing(elt) {
    var active = document.activeElement;
    var inside = active && elt.contains(active);
    var busy = (inside && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) ||
      (inside && active.closest("details[open], .resolve-question") !== null) ||
      Array.prototype.some.call(elt.querySelectorAll("input, select, textarea"), dirty) ||
      Number(elt.getAttribute("data-hold-until") || 0) > Date.now();
    if (busy) elt.setAttribute("data-stale", "1");
    return busy;
  }

  // A form's answer that asks something of the person (an error such as a snooze time in the
  // past, "what happens to the open promises?") must stay readable: refreshes wait HOLD_MS,
  // then the skipped one runs, unless the person is working in the panel by then.
  var HOLD_MS = 20000;
  function refreshIfStale(panel) {
    if (!panel.hasAttribute("data-stale") || editing(panel)) return;
    panel.removeAttribute("data-stale");
    if (!window.htmx || !panel.getAttribute("hx-get")) return;
    // A live part that reads a whole page (the Polls list) takes only itself from it.
    var select = panel.getAttribute("hx-select");
    htmx.ajax("GET", panel.getAttribute("hx-get"), select
      ? { target: panel, swap: panel.getAttribute("hx-swap") || "innerHTML", select: select }
      : { target: panel, swap: "innerHTML" });
  }

  document.addEventListener("htmx:afterSwap", function (e) {
    var panel = e.detail.target;
    if (!panel || !(panel.id === "side" || panel.classList.contains("side-panel"))) return;
    if (panel.querySelector(".form-error, .resolve-question")) {
      panel.setAttribute("data-hold-until", String(Date.now() + HOLD_MS));
      setTimeout(function () { refreshIfStale(panel); }, HOLD_MS + 50);
    } else {
      panel.removeAttribute("data-hold-until");
    }
  });

  window.sdIdle = function (elt) {
    // A form of the panel is being posted: its answer re-renders the panel, and a refresh now
    // would race it (with hx-sync "replace" it would even abort the post). The panel's own
    // refresh in flight does not count: a newer one replaces it, so the latest state wins.
    if (elt.querySelector(".htmx-request")) return false;
    return !editing(elt);
  };

  // A live refresh waits a moment after its event (live_delay) so that a burst makes one
  // request. sdIdle let it through when the event came; by the time it is sent, a form of the
  // panel may be on its way, and with hx-sync "replace" the refresh would abort that post (a
  // snooze error never shown). Ask again as it is about to go; htmx asks before it syncs.
  document.addEventListener("htmx:confirm", function (e) {
    var elt = e.detail.elt;
    if (e.detail.verb !== "get" || !elt || !elt.getAttribute) return;
    if (!/sdIdle\(/.test(elt.getAttribute("hx-trigger") || "")) return;
    if (!window.sdIdle(elt)) e.preventDefault();
  });

  // A refresh already on its way when someone starts typing must not replace their field:
  // check again at swap time. Answers to the panel's own forms always swap.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    var verb = e.detail.requestConfig && e.detail.requestConfig.verb;
    if (!target || verb !== "get") return;
    var live = target.classList.contains("side-panel") || target.id === "polls-live";
    if (target.id === "side" ? !window.sdIdle(target) : live && editing(target)) {
      e.detail.shouldSwap = false;
    }
  });

  document.addEventListener("focusout", function (e) {
    var panel = e.target.closest && e.target.closest("[data-stale]");
    if (!panel || (e.relatedTarget && panel.contains(e.relatedTarget))) return;
    panel.removeAttribute("data-hold-until");  // read and left: the refresh may run now
    refreshIfStale(panel);
  });

  // -- live indicator and errors -------------------------------------------------------
  function setLive(state) {
    var live = document.getElementById("live");
    if (live) {
      live.setAttribute("data-state", state);
      live.title = state === "on" ? "Live updates are on" : "Live updates are reconnecting";
    }
  }
  document.addEventListener("htmx:sseOpen", function () { setLive("on"); });
  document.addEventListener("htmx:sseError", function () { setLive("off"); });

  function flash(message) {
    var box = document.getElementById("flash");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(function () { box.hidden = true; }, 8000);
  }

  // The open conversation is gone (erased, deleted): what the page still shows of it, the
  // customer's words included, is taken off the page, and nothing is left to act on.
  function closeConversation(message) {
    flash(message + " Back to the inbox with u.");
    var el = document.querySelector("[data-conversation-id].conversation");
    if (!el) return;
    var notice = document.createElement("p");
    notice.className = "gone-notice";
    notice.setAttribute("role", "status");
    notice.textContent = message + " ";
    var back = document.createElement("a");
    back.href = "/";
    back.textContent = "Back to the inbox";
    notice.appendChild(back);
    el.replaceChildren(notice);
  }

  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status === 401) {
      window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      return;
    }
    var mine = conversationId();
    var path = e.detail.pathInfo && e.detail.pathInfo.requestPath;
    if (xhr.status === 404 && mine !== null && path && path.indexOf("/conversations/" + mine + "/") === 0) {
      // The open conversation is gone: nothing on the page can be acted on any more.
      if (gone && gone.reason === "merged" && typeof gone.into === "number") {
        flash("This conversation was merged into #" + gone.into + ": opening it.");
        setTimeout(function () { window.location.href = "/conversations/" + gone.into; }, 1500);
      } else if (gone && gone.reason === "erased") {
        closeConversation("This conversation no longer exists: its customer's data was erased.");
      } else {
        closeConversation("This conversation no longer exists.");
      }
      return;
    }
    var message = "The desk answered " + xhr.status + ".";
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (err) { /* not JSON: keep the status line */ }
    flash(message);
  });
  document.addEventListener("htmx:sendError", function () {
    flash("The desk cannot be reached right now. Check your connection; nothing was changed.");
  });

  // -- reply length ----------------------------------------------------------------------
  function updateRemaining(area) {
    var max = parseInt(area.getAttribute("data-max-length"), 10);
    var out = document.getElementById("reply-remaining");
    if (!out || isNaN(max)) return;
    var reserved = parseInt(area.getAttribute("data-reserved") || "0", 10);
    // Code points, as the server counts by default; networks with their own rules (X's
    // weighted length) are counted exactly on the server when the reply is checked.
    var left = max - reserved - Array.from(area.value).length;
    out.textContent = left >= 0 ? left + " characters left" : -left + " characters over the limit";
    out.classList.toggle("over", left < 0);
  }
  document.addEventListener("input", function (e) {
    if (e.target.matches && e.target.matches("textarea[data-max-length]")) updateRemaining(e.target);
  });

  // -- saved replies ------------------------------------------------------------------------
  // A saved reply chosen under the reply box goes into it: in place of a "/shortcut" being
  // typed, else at the cursor. The box then reacts as to typing (length, check, promises).
  var SHORTCUT_TYPED = /^\/([a-z0-9-]*)$/i;

  function insertSaved(text) {
    var area = document.getElementById("reply-text");
    if (!area) return;
    var value = area.value;
    if (!value.trim() || SHORTCUT_TYPED.test(value.trim())) {
      area.value = text;
      area.setSelectionRange(text.length, text.length);
    } else {
      var start = area.selectionStart, end = area.selectionEnd;
      var before = value.slice(0, start), after = value.slice(end);
      var glue = before && !/\s$/.test(before) ? " " : "";
      area.value = before + glue + text + after;
      var caret = (before + glue + text).length;
      area.setSelectionRange(caret, caret);
    }
    area.dispatchEvent(new Event("input", { bubbles: true }));
    var box = document.getElementById("saved-box");
    if (box) box.open = false;
    area.focus();
  }

  document.addEventListener("click", function (e) {
    var choice = e.target.closest && e.target.closest(".saved-choice[data-insert]");
    if (choice) insertSaved(choice.getAttribute("data-insert"));
  });

  // Enter in the search field picks the first saved reply (instead of sending the reply) of
  // the list that answers what the field holds now: when that list is still on its way (Enter
  // right after typing), it is asked for at once and the pick waits for it.
  var pickWhenListed = false;

  function pickFirstIfCurrent() {
    var search = document.getElementById("saved-search");
    var results = document.querySelector("#saved-list [data-saved-results]");
    if (!search || !results || results.getAttribute("data-query") !== search.value) return false;
    var first = results.querySelector(".saved-choice[data-insert]");
    if (first) insertSaved(first.getAttribute("data-insert"));
    return true;
  }

  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || !e.target.matches || !e.target.matches("[data-saved-search]")) return;
    e.preventDefault();
    if (pickFirstIfCurrent()) return;
    pickWhenListed = true;
    if (window.htmx) htmx.trigger(e.target, "search");
  });

  // The list is asked for when the box opens and on every search, and the answers may come
  // back in any order: one that answers an older search (the unfiltered list of the box's
  // opening, landing after "/repl" was typed) is not shown.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!e.detail.target || e.detail.target.id !== "saved-list" || !e.detail.shouldSwap) return;
    var search = document.getElementById("saved-search");
    var holder = document.createElement("template");
    holder.innerHTML = e.detail.serverResponse || "";
    var results = holder.content.querySelector("[data-saved-results]");
    if (search && results && results.getAttribute("data-query") !== search.value) {
      e.detail.shouldSwap = false;
    }
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    if (!pickWhenListed || !e.detail.target || e.detail.target.id !== "saved-list") return;
    if (pickFirstIfCurrent()) pickWhenListed = false;
  });

  // Typing "/" and a shortcut at the start of an empty reply box searches the saved replies.
  document.addEventListener("input", function (e) {
    if (!e.target || e.target.id !== "reply-text") return;
    var typed = SHORTCUT_TYPED.exec(e.target.value);
    var box = document.getElementById("saved-box");
    var search = document.getElementById("saved-search");
    if (!typed || !box || !search || !window.htmx) return;
    box.open = true;
    search.value = typed[1];
    htmx.trigger(search, "search");
  });

  // Ctrl/Cmd + Enter sends the form being written.
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.tagName === "TEXTAREA" && e.target.form) {
      e.preventDefault();
      e.target.form.requestSubmit();
    }
  });

  // -- inbox: keyboard selection ---------------------------------------------------------
  var selectedId = null;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll(".conv-row")); }

  function select(row, focus) {
    rows().forEach(function (r) { r.classList.remove("is-selected"); });
    if (!row) return;
    row.classList.add("is-selected");
    selectedId = row.getAttribute("data-conversation-id");
    var link = row.querySelector(".conv-link");
    if (focus && link) {
      link.focus();
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var current = all.findIndex(function (r) {
      return r.classList.contains("is-selected") || r.contains(document.activeElement);
    });
    var next = current === -1 ? 0 : Math.min(all.length - 1, Math.max(0, current + step));
    select(all[next], true);
  }

  document.addEventListener("htmx:afterSwap", function (e) {
    if (!selectedId || !e.detail.target || e.detail.target.id !== "inbox-list") return;
    var row = document.querySelector('.conv-row[data-conversation-id="' + selectedId + '"]');
    // Keep the selection through a live refresh; take focus back only if the refresh took it.
    select(row, document.activeElement === document.body);
  });

  // -- inbox: ticking conversations for the bar of changes (#batch-form) ----------------------
  // The ticks live here, not in the list: a live refresh or "Load more" redraws the rows, and
  // the boxes of the conversations still shown are ticked again.
  var picked = new Set();

  function pickBoxes() { return Array.prototype.slice.call(document.querySelectorAll(".row-pick")); }

  function showPicked() {
    var form = document.getElementById("batch-form");
    if (!form) return;
    var boxes = pickBoxes();
    boxes.forEach(function (box) {
      box.checked = picked.has(box.value);
      var row = box.closest(".conv-row");
      if (row) row.classList.toggle("is-picked", box.checked);
    });
    var count = form.querySelector("[data-batch-count]");
    if (count) {
      count.textContent = picked.size
        ? picked.size + " selected"
        : "Select conversations to change them together";
    }
    var all = form.querySelector("[data-batch-all]");
    if (all) {
      var ticked = boxes.filter(function (b) { return b.checked; }).length;
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    var submit = form.querySelector("[data-batch-submit]");
    if (submit) submit.disabled = picked.size === 0;
    var change = form.querySelector("#batch-change");
    var tag = form.querySelector("[data-batch-tag]");
    if (change && tag) tag.hidden = change.value !== "tag";
  }

  function pick(box) {
    if (box.checked) picked.add(box.value); else picked.delete(box.value);
  }

  document.addEventListener("change", function (e) {
    var target = e.target;
    if (target.classList && target.classList.contains("row-pick")) {
      pick(target);
    } else if (target.matches && target.matches("[data-batch-all]")) {
      pickBoxes().forEach(function (box) { box.checked = target.checked; pick(box); });
    } else if (target.id !== "batch-change") {
      return;
    }
    showPicked();
  });

  // After any swap (a live refresh of the list, "Load more"): cheap, and the list's swaps
  // replace their own targets, so no target is a sure sign.
  document.addEventListener("htmx:afterSettle", showPicked);

  document.addEventListener("DOMContentLoaded", function () {
    // A refused change comes back with its conversations still ticked.
    pickBoxes().forEach(function (box) { if (box.checked) picked.add(box.value); });
    showPicked();
  });

  // -- inbox: the assignee filter --------------------------------------------------------------
  // The pills (anyone, mine, unassigned) and the colleague select both send "assignee": picking
  // one clears the other, so the filters send one. In the capture phase, before htmx (which
  // listens on the form) reads the form for the request that the change starts.
  document.addEventListener("change", function (e) {
    var target = e.target;
    var form = target && target.form;
    if (!form || form.id !== "filters" || target.name !== "assignee") return;
    if (target.tagName === "SELECT") {
      // A colleague: no pill; none: the pill of anyone, as the inbox reads nothing sent.
      form.querySelectorAll("input[name=assignee]").forEach(function (pill) {
        pill.checked = !target.value && pill.value === "anyone";
      });
    } else {
      var colleague = form.querySelector("select[name=assignee]");
      if (colleague) colleague.value = "";
    }
  }, true);

  // -- inbox: saved views ---------------------------------------------------------------------
  // A view's delete question the person opened stays: the list's refresh (swapped out of band
  // with every list refresh, live ones included) waits until it is closed.
  document.addEventListener("htmx:oobBeforeSwap", function (e) {
    var target = e.detail.target;
    if (target && target.id === "saved-views-list" && target.querySelector("details[open]")) {
      e.detail.shouldSwap = false;
    }
  });

  function tickSelected() {
    var row = document.querySelector(".conv-row.is-selected");
    var box = row && row.querySelector(".row-pick");
    if (!box) return;
    box.checked = !box.checked;
    pick(box);
    showPicked();
  }

  // -- mentions: "@" and the start of a name in a note offers the colleagues it fits -------
  // The note box carries the active colleagues' names (data-colleagues). Arrow keys move,
  // Enter or Tab takes the name, Escape closes the list; the server decides who is mentioned.
  var mention = null;  // {area, list, start, names, index}

  function closeMentions() {
    if (!mention) return;
    mention.list.remove();
    mention.area.setAttribute("aria-expanded", "false");
    mention.area.removeAttribute("aria-activedescendant");
    mention = null;
  }

  function mentionQuery(area) {
    var before = area.value.slice(0, area.selectionStart);
    var m = /(^|[\s(])@([^\s@]{0,30}(?: [^\s@]{1,30})?)$/.exec(before);
    return m ? { start: before.length - m[2].length - 1, text: m[2].toLowerCase() } : null;
  }

  function renderMentions() {
    var list = mention.list;
    list.textContent = "";
    mention.names.forEach(function (name, i) {
      var item = document.createElement("li");
      item.id = "mention-option-" + i;
      item.setAttribute("role", "option");
      item.textContent = name;
      if (i === mention.index) item.setAttribute("aria-selected", "true");
      // mousedown, not click: the note box keeps the focus.
      item.addEventListener("mousedown", function (e) { e.preventDefault(); pickMention(i); });
      list.appendChild(item);
    });
    mention.area.setAttribute("aria-activedescendant", "mention-option-" + mention.index);
  }

  function offerMentions(area) {
    var query = mentionQuery(area);
    var names = [];
    try { names = JSON.parse(area.getAttribute("data-colleagues") || "[]"); } catch (e) { names = []; }
    var fits = !query ? [] : names.filter(function (name) {
      var lower = name.toLowerCase();
      return lower.indexOf(query.text) === 0 || lower.split(/\s+/).some(function (word) {
        return word.indexOf(query.text) === 0;
      });
    }).slice(0, 6);
    if (!fits.length) { closeMentions(); return; }
    if (!mention || mention.area !== area) {
      closeMentions();
      var list = document.createElement("ul");
      list.id = "mention-list";
      list.className = "mention-list";
      list.setAttribute("role", "listbox");
      list.setAttribute("aria-label", "Colleagues to mention");
      area.insertAdjacentElement("afterend", list);
      area.setAttribute("aria-controls", "mention-list");
      area.setAttribute("aria-expanded", "true");
      mention = { area: area, list: list };
    }
    mention.start = query.start;
    mention.names = fits;
    mention.index = 0;
    renderMentions();
  }

  function pickMention(i) {
    var area = mention.area;
    var name = mention.names[i];
    var end = area.selectionStart;
    area.value = area.value.slice(0, mention.start) + "@" + name + " " + area.value.slice(end);
    var caret = mention.start + name.length + 2;
    area.setSelectionRange(caret, caret);
    closeMentions();
    area.dispatchEvent(new Event("input", { bubbles: true }));  // the preview of whom it tells
  }

  document.addEventListener("input", function (e) {
    if (e.target.matches && e.target.matches("textarea[data-colleagues]")) offerMentions(e.target);
  });
  document.addEventListener("focusout", function (e) {
    if (mention && e.target === mention.area) closeMentions();
  });
  // Capture: the list's keys come before the page's shortcuts (Escape would leave the box).
  document.addEventListener("keydown", function (e) {
    if (!mention || e.target !== mention.area) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;  // Ctrl+Enter still sends the note
    var count = mention.names.length;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      mention.index = (mention.index + (e.key === "ArrowDown" ? 1 : count - 1)) % count;
      renderMentions();
    } else if (e.key === "Enter" || e.key === "Tab") {
      pickMention(mention.index);
    } else if (e.key === "Escape") {
      closeMentions();
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
  }, true);

  // -- shortcuts ----------------------------------------------------------------------------
  // Keys go to what has the focus when it takes text; a ticked box or a filter's pill does not.
  function typing(target) {
    if (target.tagName === "INPUT") {
      return !/^(checkbox|radio|button|submit|reset)$/.test(target.type);
    }
    return target.isContentEditable || /^(SELECT|TEXTAREA)$/.test(target.tagName);
  }

  function openHelp() {
    var dialog = document.getElementById("help");
    if (dialog && !dialog.open) dialog.showModal();
  }

  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-help-open]")) openHelp();
  });

  function focusComposer(id) {
    var area = document.getElementById(id);
    if (!area) return;
    var details = area.closest("details");
    if (details) details.open = true;
    area.focus();
  }

  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && typing(e.target)) { e.target.blur(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    var dialog = document.getElementById("help");
    if (dialog && dialog.open) return;
    switch (e.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "x": tickSelected(); break;
      case "/": {
        var q = document.getElementById("q");
        if (!q) return;
        q.focus(); q.select();
        break;
      }
      case "r": focusComposer("reply-text"); break;
      case "n": focusComposer("note-text"); break;
      case "u": {
        var back = document.querySelector("[data-back]");
        if (!back) return;
        window.location.href = back.href;
        break;
      }
      case "?": openHelp(); break;
      case "Enter": {
        var selected = document.querySelector(".conv-row.is-selected .conv-link");
        var active = document.activeElement;
        // Only when the list has the keyboard (or nothing does): Enter elsewhere keeps its
        // usual meaning, and on the focused row the link opens by itself.
        if (!selected || active === selected) return;
        if (active && active !== document.body && !active.closest(".conv-list")) return;
        window.location.href = selected.href;
        break;
      }
      default: return;
    }
    e.preventDefault();
  });

  // -- notifications: the header's badge refreshes when one arrives for this member ---------
  // The SSE extension passes on only the events an element of the page subscribes to
  // (sse-swap, hx-trigger="sse:..."), and none subscribes to notification.created: listen on
  // the stream itself, once per EventSource (after an error the extension opens a new one).
  function onNotification(message) {
    var badge = document.getElementById("notif-badge");
    if (!badge) return;
    try {
      var data = JSON.parse(message.data);
      if (String(data.member_id) !== badge.getAttribute("data-member-id")) return;
    } catch (e) { return; }
    htmx.trigger(document.body, "sd-notifications-changed");
  }
  // Listen to one kind of event on the stream itself, once per EventSource.
  function onStreamEvent(kind, handler) {
    document.addEventListener("htmx:sseOpen", function (event) {
      var source = event.detail && event.detail.source;
      var mark = "sd:" + kind;
      if (!source || source[mark]) return;
      source[mark] = true;
      source.addEventListener(kind, handler);
    });
  }
  onStreamEvent("notification.created", onNotification);

  // -- who else is on a conversation (conversations/presence.py) --------------------------
  // A conversation page says its member has it open (renewed while the tab is in view) and is
  // writing a reply (renewed while typing). Colleagues' announcements show live above the
  // reply box and on inbox rows ([data-presence-for]), so a customer is answered once. Each
  // shown announcement carries its end (data-until): the server holds one for 45 s, renewals
  // come well within it, and a closed page says it left. The page's markup is the state.
  var PRESENCE_VIEW_MS = 20000, PRESENCE_TYPE_MS = 8000;
  var lastReplying = 0;

  function presenceBox() { return document.getElementById("presence"); }
  function presenceToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; } catch (e) { return ""; }
  }
  // The same markup as _presence.html.
  function presenceItem(memberId, name, activity, until, compact) {
    var item = document.createElement("span");
    var replying = activity === "replying";
    item.className = "presence-item presence-" + activity;
    item.setAttribute("data-member-id", memberId);
    item.setAttribute("data-name", name);
    item.setAttribute("data-activity", activity);
    item.setAttribute("data-until", until);
    item.textContent = name + " " + (compact ? (replying ? "replying" : "viewing") : (replying ? "is writing a reply" : "has this open"));
    return item;
  }
  function sortPresence(container) {
    var items = Array.prototype.slice.call(container.querySelectorAll(".presence-item"));
    items.sort(function (a, b) {
      var ra = a.getAttribute("data-activity") === "replying" ? 0 : 1;
      var rb = b.getAttribute("data-activity") === "replying" ? 0 : 1;
      return ra - rb || a.getAttribute("data-name").localeCompare(b.getAttribute("data-name"));
    });
    items.forEach(function (item) { container.appendChild(item); });
  }
  function dropLapsed() {
    var now = Date.now();
    document.querySelectorAll("[data-presence-for] .presence-item").forEach(function (item) {
      if (Date.parse(item.getAttribute("data-until")) <= now) item.remove();
    });
  }
  function onPresence(message) {
    var data;
    try { data = JSON.parse(message.data); } catch (e) { return; }
    if (String(data.member_id) === document.body.getAttribute("data-me")) return;
    document.querySelectorAll('[data-presence-for="' + Number(data.conversation_id) + '"]').forEach(function (container) {
      container.querySelectorAll(".presence-item").forEach(function (item) {
        if (item.getAttribute("data-member-id") === String(data.member_id)) item.remove();
      });
      if (data.activity !== "left") {
        container.appendChild(presenceItem(String(data.member_id), String(data.member_name), data.activity, data.until, container.getAttribute("data-compact") === "yes"));
        sortPresence(container);
      }
    });
  }
  function announce(activity) {
    var box = presenceBox();
    if (!box || box.getAttribute("data-announce") !== "yes") return;
    var body = new URLSearchParams({ activity: activity, csrf_token: presenceToken() });
    if (activity === "left") {
      if (navigator.sendBeacon) navigator.sendBeacon(box.getAttribute("data-url"), body);
      return;
    }
    fetch(box.getAttribute("data-url"), { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        // The answer is who else is on it now (server-rendered, escaped): it replaces what the
        // page knew.
        if (html !== null) box.innerHTML = html;
      })
      .catch(function () { /* offline: the next renewal tries again */ });
  }
  function startPresence() {
    setInterval(dropLapsed, 5000);
    if (!presenceBox()) return;
    if (document.visibilityState === "visible") announce("viewing");
    setInterval(function () {
      if (document.visibilityState !== "visible") return;
      if (Date.now() - lastReplying < PRESENCE_VIEW_MS) return;  // typing renews it
      announce("viewing");
    }, PRESENCE_VIEW_MS);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") announce("viewing");
    });
    window.addEventListener("pagehide", function () { announce("left"); });
  }
  document.addEventListener("input", function (e) {
    if (!e.target || e.target.id !== "reply-text") return;
    var now = Date.now();
    if (!e.target.value.trim()) {
      if (lastReplying) { lastReplying = 0; announce("viewing"); }
      return;
    }
    if (now - lastReplying < PRESENCE_TYPE_MS) return;
    lastReplying = now;
    announce("replying");
  });
  // The reply box came back empty (the reply went): the member is no longer writing one. A
  // refused reply comes back with its text, and they still are.
  document.addEventListener("htmx:afterSettle", function (e) {
    if (!lastReplying || !e.detail || !e.detail.target || e.detail.target.id !== "composer") return;
    var box = document.getElementById("reply-text");
    if (box && box.value.trim()) return;
    lastReplying = 0;
    announce("viewing");
  });
  onStreamEvent("conversation.presence", onPresence);
  document.addEventListener("DOMContentLoaded", startPresence);

  // -- SLA countdowns: every [data-sla-due] element counts down without a reload -----------
  function words(seconds) {
    seconds = Math.floor(Math.abs(seconds));
    if (seconds < 60) return seconds + "s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + "m";
    var hours = Math.floor(minutes / 60); minutes = minutes % 60;
    if (hours < 48) return hours + "h " + (minutes < 10 ? "0" : "") + minutes + "m";
    return Math.floor(hours / 24) + "d " + (hours % 24) + "h";
  }
  function tickSla() {
    var now = Date.now();
    document.querySelectorAll("[data-sla-due]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-sla-due")) - now) / 1000;
      var warn = parseFloat(el.getAttribute("data-sla-warn") || "900");
      var text = left < 0 ? "overdue " + words(left) : words(left) + " left";
      var target = el.querySelector(".sla-left") || el;
      if (target.textContent !== text) target.textContent = text;
      el.classList.toggle("chip-sla-overdue", left < 0);
      el.classList.toggle("chip-sla-soon", left >= 0 && left <= warn);
      el.classList.toggle("chip-sla-ok", left > warn);
    });
  }
  setInterval(tickSla, 15000);
  document.addEventListener("htmx:afterSettle", tickSla);

  // -- small page set-up ----------------------------------------------------------------
  function remember() {
    if (document.body.classList.contains("page-inbox")) {
      try { sessionStorage.setItem("sd-inbox", location.pathname + location.search); } catch (e) { /* private mode */ }
    }
  }
  document.addEventListener("htmx:pushedIntoHistory", remember);

  // The header wraps onto a second row on narrower screens: what sticks below it (the inbox
  // filters) and the scroll padding that keeps focus in view read its height from here.
  function trackHeader() {
    var bar = document.querySelector(".topbar");
    if (!bar || !window.ResizeObserver) return;
    new ResizeObserver(function () {
      document.documentElement.style.setProperty("--topbar-h", bar.offsetHeight + "px");
    }).observe(bar);
  }

  document.addEventListener("DOMContentLoaded", function () {
    remember();
    trackHeader();
    var back = document.querySelector("[data-back]");
    if (back) {
      try { var last = sessionStorage.getItem("sd-inbox"); if (last) back.href = last; } catch (e) { /* ignore */ }
    }
    if (window.matchMedia("(min-width: 900px)").matches) {
      document.querySelectorAll("details[data-open-wide]").forEach(function (d) { d.open = true; });
    }
    document.querySelectorAll("textarea[data-max-length]").forEach(updateRemaining);
  });
})();
