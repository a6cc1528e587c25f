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
// it as it renders the page, so there is no second template, JSON API or build step. It stops
// when the fresh copy no longer asks for it (every task has finished), when the page answers
// with an error or a redirect (signed out), and waits while focus is inside (someone typing).
function liveSections() {
  for (const section of document.querySelectorAll("[data-live][id]")) {
    const delay = Number(section.dataset.live) * 1000;
    if (!(delay >= 1000)) continue;
    const id = section.id;
    const refresh = async () => {
      const current = document.getElementById(id);
      if (!current) return;
      if (!document.hidden && !current.contains(document.activeElement)) {
        let response;
        try {
          response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
        } catch {
          response = null; // offline for a moment: try again next time
        }
        if (response && (!response.ok || response.redirected)) return;
        if (response) {
          const page = new DOMParser().parseFromString(await response.text(), "text/html");
          const fresh = page.getElementById(id);
          if (!fresh) return;
          current.replaceWith(document.adoptNode(fresh));
          if (!fresh.hasAttribute("data-live")) return;
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
