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

document.addEventListener("DOMContentLoaded", () => {
  enhanceMenu();
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
