// Small progressive enhancements; every page works without this file.
"use strict";

// The shell's menu on small screens: the markup works with a checkbox; here it becomes a real
// button that says whether the menu is open (aria-expanded) and closes with Escape.
function enhanceMenu() {
  const button = document.querySelector("button[data-menu-button]");
  const toggle = document.getElementById("shell-toggle");
  if (!button || !toggle) return;
  const fallback = document.querySelectorAll("[data-menu-fallback]");
  const show = (open) => {
    toggle.checked = open;
    button.setAttribute("aria-expanded", String(open));
  };
  for (const element of fallback) element.hidden = true;
  button.hidden = false;
  show(toggle.checked);
  button.addEventListener("click", () => show(!toggle.checked));
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !toggle.checked) return;
    show(false);
    button.focus();
  });
}

// A table wider than the screen scrolls inside its wrapper: the wrapper becomes a labelled,
// focusable region, so keyboard users can reach it and scroll it with the arrow keys.
function focusableScrollers() {
  for (const wrap of document.querySelectorAll(".table-wrap")) {
    if (wrap.scrollWidth <= wrap.clientWidth || wrap.hasAttribute("tabindex")) continue;
    const caption = wrap.querySelector("caption");
    wrap.tabIndex = 0;
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", `${caption ? caption.textContent.trim() : "Table"} (scrolls sideways)`);
  }
}

// Live sections: an element with an id and data-live="SECONDS" is fetched again with the whole
// page every SECONDS while the tab is visible, and swapped for its fresh copy: the server renders
// it as it renders the page, so there is no second template, JSON API or build step. Sections
// with the same period share one fetch. A section stops when its fresh copy no longer asks for
// it (every task has finished); all stop when the page answers with an error or a redirect
// (signed out); a turn is skipped while focus is inside one (someone typing).
function liveSections() {
  const periods = new Map();
  for (const section of document.querySelectorAll("[data-live][id]")) {
    const delay = Number(section.dataset.live) * 1000;
    if (!(delay >= 1000)) continue;
    periods.set(delay, [...(periods.get(delay) || []), section.id]);
  }
  for (const [delay, ids] of periods) {
    let live = ids;
    const refresh = async () => {
      const sections = live.map((id) => document.getElementById(id)).filter(Boolean);
      const busy = sections.some((section) => section.contains(document.activeElement));
      if (sections.length === 0) return;
      if (!document.hidden && !busy) {
        let response = null;
        try {
          response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
        } catch {
          // offline for a moment: try again next time
        }
        if (response && (!response.ok || response.redirected)) return;
        if (response) {
          const page = new DOMParser().parseFromString(await response.text(), "text/html");
          live = [];
          for (const current of sections) {
            const fresh = page.getElementById(current.id);
            if (!fresh) continue;
            current.replaceWith(document.adoptNode(fresh));
            if (fresh.hasAttribute("data-live")) live.push(fresh.id);
          }
          if (live.length === 0) return;
        }
      }
      window.setTimeout(refresh, delay);
    };
    window.setTimeout(refresh, delay);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  enhanceMenu();
  liveSections();
  focusableScrollers();
  window.addEventListener("resize", focusableScrollers, { passive: true });

  // "Copy" buttons next to one-time secrets (hidden until we know the clipboard is usable).
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = "Copied";
      } catch {
        field.select(); // fall back to a selection the person can copy by hand
      }
    });
  }

  // Ask before destructive actions (deactivating a member, revoking a key).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
