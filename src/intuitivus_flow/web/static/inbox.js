// The live inbox: panes swapped in when /inbox/events says a conversation changed, and
// single-key shortcuts. Progressive enhancement only: without this file the page works with
// its Refresh link and plain forms.
"use strict";

(() => {
  const inbox = document.querySelector("[data-inbox]");
  if (!inbox) return;
  const announce = document.querySelector("[data-announce]");
  const liveState = document.querySelector("[data-live-state]");
  const listPane = document.getElementById("inbox-list");
  const conversationPane = document.getElementById("inbox-conversation");
  const openId = inbox.dataset.conversationId || "";

  const scrollThread = () => {
    const thread = conversationPane && conversationPane.querySelector("[data-thread]");
    if (thread) thread.scrollTop = thread.scrollHeight;
  };
  scrollThread();

  const fetchFragment = async (url) => {
    const response = await fetch(url, { headers: { Accept: "text/html", "X-Inbox-Pane": "1" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const holder = document.createElement("template");
    holder.innerHTML = await response.text();
    return holder.content;
  };

  const refreshList = async () => {
    if (!listPane) return;
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.conversation : undefined;
    const fresh = await fetchFragment(inbox.dataset.listUrl);
    listPane.replaceChildren(fresh);
    if (focused) {
      const again = listPane.querySelector(`[data-conversation="${focused}"]`);
      if (again) again.focus();
    }
  };

  // The thread, its header and the contact's details are replaced; the reply box is kept
  // while someone is typing in it, so a new message never wipes a draft.
  const refreshConversation = async () => {
    if (!conversationPane || !inbox.dataset.conversationUrl) return;
    const fresh = await fetchFragment(inbox.dataset.conversationUrl);
    const reply = conversationPane.querySelector("[data-reply]");
    const drafting = reply && (reply.value.trim() !== "" || document.activeElement === reply);
    if (!drafting) {
      conversationPane.replaceChildren(fresh);
    } else {
      for (const selector of [".inbox-pane__head", "[data-thread]", ".inbox__details", ".conversation-actions"]) {
        const now = conversationPane.querySelector(selector);
        const next = fresh.querySelector(selector);
        if (now && next) now.replaceWith(next);
      }
    }
    scrollThread();
  };

  // Several changes close together cost one refresh of each pane.
  let pending = null;
  let touchedOpen = false;
  let touchedOther = false;
  const schedule = (conversationId) => {
    if (conversationId === openId) touchedOpen = true; else touchedOther = true;
    if (pending) return;
    pending = setTimeout(async () => {
      const [open, other] = [touchedOpen, touchedOther];
      pending = null; touchedOpen = false; touchedOther = false;
      try {
        await refreshList();
        if (open) await refreshConversation();
        if (announce) {
          announce.textContent = open ? "This conversation was updated." : other ? "The conversation list was updated." : "";
        }
      } catch (error) {
        if (liveState) liveState.textContent = "could not update; use Refresh.";
      }
    }, 250);
  };

  if ("EventSource" in window) {
    const source = new EventSource("/inbox/events");
    const onChange = (event) => {
      try { schedule(JSON.parse(event.data).conversation); } catch { schedule(""); }
    };
    source.addEventListener("message", onChange);
    source.addEventListener("conversation", onChange);
    source.addEventListener("reset", () => { schedule(openId); schedule(""); });
    source.addEventListener("open", () => {
      if (liveState) liveState.textContent = "Live: new messages appear as they arrive.";
    });
    source.addEventListener("error", () => {
      if (liveState && source.readyState === EventSource.CLOSED) {
        liveState.textContent = "Live updates stopped; use Refresh to see new messages.";
      }
    });
  }

  // --- keyboard shortcuts ------------------------------------------------------------------
  const STORAGE = "flow.inbox.shortcuts";
  const toggle = document.querySelector("[data-shortcuts-toggle]");
  let enabled = true;
  try { enabled = localStorage.getItem(STORAGE) !== "off"; } catch { /* storage blocked */ }
  if (toggle) {
    toggle.checked = enabled;
    toggle.addEventListener("change", () => {
      enabled = toggle.checked;
      try { localStorage.setItem(STORAGE, enabled ? "on" : "off"); } catch { /* storage blocked */ }
    });
  }

  const typing = (target) =>
    target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT", "BUTTON"].includes(target.tagName));

  const move = (step) => {
    const links = [...document.querySelectorAll("#inbox-list [data-conversation]")];
    if (!links.length) return;
    const current = links.findIndex((link) => link.getAttribute("aria-current") === "true" || link === document.activeElement);
    const next = links[Math.min(links.length - 1, Math.max(0, current < 0 ? 0 : current + step))];
    if (next) window.location.assign(next.href);
  };

  const submit = (selector) => {
    const form = document.querySelector(selector);
    if (form) form.requestSubmit();
  };

  const actions = {
    j: () => move(1),
    k: () => move(-1),
    r: () => { const reply = document.querySelector("[data-reply]"); if (reply) reply.focus(); },
    e: () => submit("form[data-shortcut='e']"),
    c: () => submit("form[data-shortcut='c']"),
    a: () => {
      const me = document.querySelector("#assign-user option[data-me]");
      if (!me) return;
      me.selected = true;
      me.closest("form").requestSubmit();
    },
    "/": () => { const first = document.querySelector("#inbox-filters a"); if (first) first.focus(); },
    "?": () => {
      const help = document.getElementById("inbox-shortcuts");
      if (help) { help.open = true; help.querySelector("summary").focus(); }
    },
  };

  document.addEventListener("keydown", (event) => {
    if (!enabled || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });
})();
