/*! Intuitivus Flow web-chat widget, v1. No dependencies.
 * Embed, once per page:
 *   <script src="https://YOUR-FLOW-ADDRESS/widget/v1.js" data-widget-key="KEY" async></script>
 * Optional: data-title="Chat with us", data-greeting="Hi! How can we help?".
 * The page's origin must be one of the widget's allowed origins (Channels page); a page with
 * a Content-Security-Policy must allow this address in script-src and connect-src.
 */
(function () {
  "use strict";

  var script =
    document.currentScript ||
    document.querySelector('script[data-widget-key][src*="/widget/v1.js"]');
  if (!script || window.__intuitivusFlowChat) return; // pasted twice: one widget
  var key = script.getAttribute("data-widget-key") || "";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(key)) {
    if (window.console) console.warn("Intuitivus Flow chat: data-widget-key is missing or invalid");
    return;
  }
  window.__intuitivusFlowChat = true;

  var TITLE = script.getAttribute("data-title") || "Chat with us";
  var GREETING = script.getAttribute("data-greeting") || "Hi! How can we help?";
  var ENDPOINT = new URL(script.src, location.href).origin + "/api/webchat/" + key + "/messages";
  var STORE_KEY = "intuitivus-flow-chat:" + key;
  var MAX_TEXT = 2000;
  // Polling: quick while a reply may be coming, slower as the conversation goes quiet, and
  // none at all once it has been quiet for a while with the panel closed.
  var FAST_MS = 1500;
  var OPEN_MAX_MS = 15000;
  var CLOSED_MAX_MS = 60000;
  var QUIET_STOP_MS = 10 * 60 * 1000;

  // --- the visitor, kept in this browser --------------------------------------------------
  var memory = {};
  function load() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
    } catch (e) {
      return memory; // storage blocked (private mode, policy): this page view only
    }
  }
  function save(state) {
    memory = state;
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) {
      /* kept in memory */
    }
  }
  function newVisitorId() {
    if (window.crypto && crypto.randomUUID) return "v-" + crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "v-" + Array.prototype.map.call(bytes, function (b) {
      return (b + 256).toString(16).slice(1);
    }).join("");
  }
  var stored = load();
  if (!stored.visitor || !/^[A-Za-z0-9_-]{8,64}$/.test(stored.visitor)) {
    stored = { visitor: newVisitorId() };
    save(stored);
  }
  var visitor = stored.visitor;

  // --- the elements, in a shadow root so the page's styles and ours never mix -------------
  var CSS =
    ":host{all:initial}" +
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;" +
    "align-items:center;gap:8px;min-height:48px;padding:12px 18px;border:0;border-radius:24px;" +
    "background:#1d4ed8;color:#fff;font-size:16px;font-weight:600;cursor:pointer;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25)}" +
    ".launcher:hover{background:#1e40af}" +
    ".badge{min-width:22px;padding:2px 6px;border-radius:11px;background:#fff;color:#1e3a8a;" +
    "font-size:13px;text-align:center}" +
    ".panel{position:fixed;right:20px;bottom:84px;z-index:2147483001;display:flex;" +
    "flex-direction:column;width:360px;max-width:calc(100vw - 40px);height:520px;" +
    "max-height:calc(100vh - 110px);border:1px solid #cbd5e1;border-radius:12px;" +
    "background:#fff;color:#0f172a;box-shadow:0 10px 30px rgba(0,0,0,.25);overflow:hidden}" +
    ".panel[hidden]{display:none}" +
    "header{display:flex;align-items:center;justify-content:space-between;gap:8px;" +
    "padding:12px 14px;background:#1d4ed8;color:#fff}" +
    "h2{margin:0;font-size:17px;font-weight:600}" +
    ".close{min-width:44px;min-height:44px;border:0;border-radius:8px;background:transparent;" +
    "color:#fff;font-size:24px;line-height:1;cursor:pointer}" +
    ".close:hover{background:#1e40af}" +
    "ol{flex:1;margin:0;padding:12px;list-style:none;overflow-y:auto;background:#f8fafc}" +
    "li{display:flex;flex-direction:column;margin:0 0 10px}" +
    ".bubble{max-width:85%;padding:9px 12px;border-radius:14px;font-size:15px;" +
    "line-height:1.4;white-space:pre-wrap;overflow-wrap:anywhere}" +
    ".them .bubble{align-self:flex-start;background:#e2e8f0;color:#0f172a}" +
    ".me .bubble{align-self:flex-end;background:#1d4ed8;color:#fff}" +
    ".meta{margin-top:2px;font-size:12px;color:#475569}" +
    ".me .meta{align-self:flex-end}" +
    ".status{min-height:20px;margin:0;padding:2px 14px;font-size:13px;color:#b91c1c}" +
    "form{display:flex;gap:8px;align-items:flex-end;padding:10px 12px;" +
    "border-top:1px solid #cbd5e1;background:#fff}" +
    "label{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    "textarea{flex:1;min-height:44px;max-height:120px;padding:10px;border:1px solid #64748b;" +
    "border-radius:8px;color:#0f172a;background:#fff;font-size:16px;resize:none}" +
    "textarea::placeholder{color:#64748b;opacity:1}" +
    ".send{min-height:44px;padding:0 16px;border:0;border-radius:8px;background:#1d4ed8;" +
    "color:#fff;font-size:15px;font-weight:600;cursor:pointer}" +
    ".send:disabled{background:#64748b;cursor:wait}" +
    // A dark ring on a white gap: visible on the page's background and on our blue alike.
    "button:focus-visible,textarea:focus-visible{outline:3px solid #111827;outline-offset:2px;" +
    "box-shadow:0 0 0 2px #fff}" +
    "@media (max-width:480px){.panel{inset:0;right:0;bottom:0;width:100%;max-width:none;" +
    "height:100%;max-height:none;border:0;border-radius:0}" +
    ".launcher{right:12px;bottom:12px}}" +
    "@media (forced-colors:active){.launcher,.send,header{border:1px solid}}";

  var host = document.createElement("div");
  host.id = "intuitivus-flow-chat";
  var root = host.attachShadow({ mode: "open" });
  if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
    var sheet = new CSSStyleSheet(); // constructed: a page CSP without 'unsafe-inline' allows it
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    var style = document.createElement("style");
    style.textContent = CSS;
    root.appendChild(style);
  }

  function el(tag, attributes, text) {
    var node = document.createElement(tag);
    for (var name in attributes) node.setAttribute(name, attributes[name]);
    if (text) node.textContent = text;
    return node;
  }

  var launcher = el("button", {
    type: "button",
    class: "launcher",
    "aria-expanded": "false",
    "aria-controls": "panel",
  });
  var launcherText = el("span", {}, TITLE);
  var badge = el("span", { class: "badge", hidden: "" });
  launcher.append(launcherText, badge);

  var panel = el("div", {
    id: "panel",
    class: "panel",
    role: "dialog",
    "aria-modal": "true",
    "aria-labelledby": "title",
    hidden: "",
  });
  var header = el("header");
  var closeButton = el("button", { type: "button", class: "close", "aria-label": "Close chat" }, "\u00d7");
  header.append(el("h2", { id: "title" }, TITLE), closeButton);
  // role=log is a polite live region: each new message is read out once, in order.
  var log = el("ol", { role: "log", "aria-live": "polite", "aria-label": "Messages" });
  var status = el("p", { class: "status", role: "status" });
  var form = el("form", { novalidate: "" });
  var input = el("textarea", {
    id: "message",
    name: "message",
    rows: "1",
    maxlength: String(MAX_TEXT),
    autocomplete: "off",
    placeholder: "Type your message",
    "aria-describedby": "hint",
  });
  var send = el("button", { type: "submit", class: "send" }, "Send");
  form.append(
    el("label", { for: "message" }, "Your message"),
    el("span", { id: "hint", class: "sr" }, "Enter sends; Shift+Enter starts a new line."),
    input,
    send
  );
  panel.append(header, log, status, form);
  root.append(launcher, panel);

  // --- the conversation -------------------------------------------------------------------
  var seen = {};
  var lastId = stored.lastId || null;
  var unread = 0;
  var lastActivity = stored.activeAt || 0;
  var timer = null;
  var delay = FAST_MS;
  var loaded = false;

  function isOpen() {
    return !panel.hidden;
  }

  function addMessage(message, local) {
    if (message.id) {
      if (seen[message.id]) return;
      seen[message.id] = true;
    }
    var mine = message.author === "contact";
    var item = el("li", { class: mine ? "me" : "them" });
    var bubble = el("span", { class: "bubble" });
    bubble.append(el("span", { class: "sr" }, mine ? "You: " : "Agent: "), document.createTextNode(message.text));
    item.append(bubble);
    if (message.created_at) {
      var when = new Date(message.created_at);
      if (!isNaN(when)) {
        item.append(
          el("time", { class: "meta", datetime: message.created_at },
            when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }))
        );
      }
    }
    log.append(item);
    log.scrollTop = log.scrollHeight;
    if (!local && !mine && !isOpen()) {
      unread += 1;
      showUnread();
    }
  }

  function showUnread() {
    badge.hidden = unread === 0;
    badge.textContent = String(unread);
    launcher.setAttribute(
      "aria-label",
      unread ? TITLE + ", " + unread + " new message" + (unread > 1 ? "s" : "") : TITLE
    );
  }

  function remember(id) {
    lastId = id;
    lastActivity = Date.now();
    stored.lastId = id;
    stored.activeAt = lastActivity;
    save(stored);
  }

  function problemText(response, body, sending) {
    if (response.status === 429) {
      var wait = body && body.retry_after ? Math.ceil(body.retry_after) : 30;
      return "Too many messages at once. Please try again in " + wait + " seconds.";
    }
    if (response.status === 422 && sending) return "That message could not be sent. Please shorten it.";
    return "The chat is unavailable right now. Please try again later.";
  }

  function request(method, query, body) {
    var options = { method: method, mode: "cors", credentials: "omit", cache: "no-store" };
    if (body) {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(body);
    }
    return fetch(ENDPOINT + query, options).then(function (response) {
      return response.json().then(
        function (json) { return { response: response, body: json }; },
        function () { return { response: response, body: null }; }
      );
    });
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = null;
    if (document.hidden) return; // resumed by visibilitychange
    if (!isOpen() && (!lastActivity || Date.now() - lastActivity > QUIET_STOP_MS)) return;
    timer = setTimeout(poll, ms);
  }

  function poll() {
    var query = "?visitor=" + encodeURIComponent(visitor) + (lastId ? "&after=" + lastId : "");
    if (!loaded) query = "?visitor=" + encodeURIComponent(visitor); // the whole thread first
    request("GET", query).then(
      function (result) {
        if (!result.response.ok) {
          var retry = result.body && result.body.retry_after;
          delay = retry ? retry * 1000 : Math.min(delay * 2, CLOSED_MAX_MS);
          if (isOpen()) status.textContent = problemText(result.response, result.body, false);
          return schedule(delay);
        }
        status.textContent = "";
        var messages = (result.body && result.body.messages) || [];
        loaded = true;
        var fresh = messages.filter(function (m) { return !seen[m.id]; });
        messages.forEach(function (m) { addMessage(m, false); });
        if (messages.length) remember(messages[messages.length - 1].id);
        delay = fresh.length ? FAST_MS : Math.min(delay * 1.6, isOpen() ? OPEN_MAX_MS : CLOSED_MAX_MS);
        schedule(delay);
      },
      function () {
        delay = Math.min(delay * 2, CLOSED_MAX_MS);
        if (isOpen()) status.textContent = problemText({ status: 0 }, null, false);
        schedule(delay);
      }
    );
  }

  function submit(event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || send.disabled) return;
    if (text.length > MAX_TEXT) {
      status.textContent = "Messages have at most " + MAX_TEXT + " characters.";
      return;
    }
    send.disabled = true;
    status.textContent = "";
    request("POST", "", { visitor: visitor, text: text }).then(
      function (result) {
        send.disabled = false;
        if (!result.response.ok) {
          status.textContent = problemText(result.response, result.body, true);
          return;
        }
        input.value = "";
        addMessage(result.body, true);
        loaded = true;
        remember(result.body.id);
        delay = FAST_MS;
        schedule(delay);
        input.focus();
      },
      function () {
        send.disabled = false;
        status.textContent = problemText({ status: 0 }, null, true);
      }
    );
  }

  // --- opening, closing and the keyboard ---------------------------------------------------
  function focusable() {
    return [closeButton, input, send].filter(function (node) { return !node.disabled; });
  }

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    unread = 0;
    showUnread();
    input.focus();
    delay = FAST_MS;
    if (timer === null || !loaded) poll();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (isOpen()) close();
    else open();
  });
  closeButton.addEventListener("click", close);
  form.addEventListener("submit", submit);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submit(event);
  });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
      return;
    }
    if (event.key !== "Tab") return;
    // The panel is modal: Tab and Shift+Tab go round its own controls.
    var items = focusable();
    var index = items.indexOf(root.activeElement);
    var next = index === -1 ? 0 : event.shiftKey ? index - 1 : index + 1;
    if (index === -1 || next < 0 || next >= items.length) {
      event.preventDefault();
      items[(next + items.length) % items.length].focus();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) schedule(FAST_MS);
  });

  addMessage({ text: GREETING, author: "agent" }, true);
  function mount() {
    document.body.appendChild(host);
    // A visitor who chatted recently gets the thread (and unread replies) on every page.
    if (lastActivity && Date.now() - lastActivity < QUIET_STOP_MS) poll();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
