"""How the creatives' fields are shown: their values, grouped per creative, and each
creative's preview (what the people it reaches see), rendered from what was typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from intuitivus_flow.campaigns import creatives as rules
from intuitivus_flow.campaigns.schemas import Creative

MAX_CREATIVES = 50  # the schema's limit
FORMATS = (
    ("image", "Image ad"),
    ("video", "Video ad"),
    ("carousel", "Carousel ad"),
    ("text", "Text ad"),
    ("whatsapp_template", "WhatsApp template"),
    ("email", "E-mail"),
)
FORMAT_LABELS = dict(FORMATS)
TEXT_FIELDS = ("name", "headline", "body", "call_to_action", "landing_url", "media_url")
TEMPLATE_FIELDS = ("template_name", "template_language", "template_variables")
FIELDS = ("format", *TEXT_FIELDS, *TEMPLATE_FIELDS)


@dataclass(frozen=True, slots=True)
class Preview:
    """What a creative looks like to the people it reaches, from the typed values."""

    format: str
    format_label: str
    headline: str
    body: str
    call_to_action: str
    landing_host: str
    media_host: str
    template: str


@dataclass(frozen=True, slots=True)
class CreativeRow:
    prefix: str  # of its fields' names and ids: creative-<n>-
    number: int  # from 1, as people count
    new: bool  # the empty group that adds a creative
    preview: Preview


def saved_values(saved: list[Creative]) -> dict[str, str]:
    """A campaign's creatives as the form's fields, followed by the empty group."""
    values: dict[str, str] = {}
    for index, creative in enumerate(saved):
        prefix = f"creative-{index}-"
        data = creative.model_dump(mode="json")
        for name in FIELDS:
            value = data.get(name)
            if name == "template_variables":
                values[prefix + name] = "\n".join(value or [])
            else:
                values[prefix + name] = "" if value is None else str(value)
    values["count"] = str(min(len(saved) + 1, MAX_CREATIVES + 1))
    return values


def rows(values: Mapping[str, str]) -> list[CreativeRow]:
    """The groups to show: the form's values with each one's preview."""
    groups = prefixes(values)
    return [
        CreativeRow(
            prefix=prefix,
            number=number,
            new=number == len(groups) and is_blank(values, prefix),
            preview=preview(values, prefix),
        )
        for number, prefix in enumerate(groups, start=1)
    ]


def preview(values: Mapping[str, str], prefix: str) -> Preview:
    def text(name: str) -> str:
        return values.get(prefix + name, "").strip()

    kind = text("format") if text("format") in FORMAT_LABELS else "image"
    template = ""
    body = text("body")
    if kind == "whatsapp_template":
        body = rules.fill(body, lines(text("template_variables")))
        language = text("template_language") or "en"
        template = f"{text('template_name')} ({language})" if text("template_name") else ""
    return Preview(
        format=kind,
        format_label=FORMAT_LABELS[kind],
        headline=text("headline"),
        body=body,
        call_to_action=text("call_to_action"),
        landing_host=host_of(text("landing_url")),
        media_host=host_of(text("media_url")),
        template=template,
    )


def prefixes(values: Mapping[str, str]) -> list[str]:
    count = int(values.get("count") or 0)
    return [f"creative-{index}-" for index in range(count)]


def is_blank(values: Mapping[str, str], prefix: str) -> bool:
    # The format always has a value (a select): an untouched group is blank without it.
    return not any(values.get(prefix + name, "").strip() for name in FIELDS if name != "format")


def lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


def host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # e.g. an unclosed [ in the host
        return ""
