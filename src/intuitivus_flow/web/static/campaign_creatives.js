// Redraws each creative's preview while its fields are typed in. The server renders the same
// preview (web/campaign_pages/creative_display.py); without this file it updates on "Preview".
"use strict";

const FORMAT_LABELS = {
  image: "Image ad",
  video: "Video ad",
  carousel: "Carousel ad",
  text: "Text ad",
  whatsapp_template: "WhatsApp template",
  email: "E-mail",
};

function hostOf(raw) {
  try {
    return new URL(raw.trim()).hostname;
  } catch {
    return "";
  }
}

// {{1}}, {{2}}... replaced by the variables typed one per line, as WhatsApp will.
function fill(body, variables) {
  return body.replace(/\{\{\s*([0-9]{1,2})\s*\}\}/g, (whole, number) => {
    const value = variables[Number(number) - 1];
    return value === undefined ? whole : value;
  });
}

function lines(raw) {
  return raw.split("\n").map((line) => line.trim()).filter(Boolean);
}

function redraw(form, prefix) {
  const figure = form.querySelector(`[data-creative-preview="${prefix}"]`);
  if (!figure) return;
  const value = (name) => (form.elements[prefix + name]?.value ?? "").trim();
  const format = FORMAT_LABELS[value("format")] ? value("format") : "image";
  let body = value("body");
  let template = "";
  if (format === "whatsapp_template") {
    body = fill(body, lines(value("template_variables")));
    const name = value("template_name");
    template = name ? `Template ${name} (${value("template_language") || "en"})` : "";
  }
  const media = hostOf(value("media_url"));
  const shown = {
    format_label: FORMAT_LABELS[format],
    media_host: media ? `Image from ${media}` : "",
    template,
    headline: value("headline"),
    body,
    call_to_action: value("call_to_action"),
    landing_host: hostOf(value("landing_url")),
  };
  figure.className = `creative-preview creative-preview--${format}`;
  for (const [name, text] of Object.entries(shown)) {
    const element = figure.querySelector(`[data-preview="${name}"]`);
    if (!element) continue;
    const empty = element.dataset.empty;
    element.textContent = text || empty || "";
    element.hidden = !text && !empty;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-creatives]")) {
    form.addEventListener("input", (event) => {
      const match = /^(creative-[0-9]+-)/.exec(event.target.name || "");
      if (match) redraw(form, match[1]);
    });
  }
});
