"""Creatives' rules beyond their shape, shared by the API's schema and the campaign page.

A creative's URLs are fetched by others (the ad platform crawls the landing page, WhatsApp and
the ad platforms download the image or video), never by this server, so they cannot reach the
instance's network; but a URL that literally names an internal address (localhost, 10.0.0.8,
[::1]) can never work for them either, and is refused with the same rule as the server's own
outbound requests (`kit/outbound.py`). WhatsApp templates number their variables `{{1}}`,
`{{2}}`...: a body that uses `{{3}}` needs three variables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from intuitivus_flow.kit.outbound import OutboundPolicy, RefusedURL

# Meta's rule for template names: lower-case letters, digits and underscores.
TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
PLACEHOLDER = re.compile(r"\{\{\s*([0-9]{1,2})\s*\}\}")
MAX_TEMPLATE_VARIABLES = 20
# No operator exceptions here: what matters is whether the outside world can fetch it.
_PUBLIC_ONLY = OutboundPolicy()


def check_public_url(url: str) -> str:
    """The URL, or ValueError when it names an address the internet cannot reach."""
    try:
        _PUBLIC_ONLY.check_url(url)
    except RefusedURL:
        host = urlsplit(url).hostname or url
        raise ValueError(
            f"{host} is not a public address: ad platforms and WhatsApp fetch it from the internet"
        ) from None
    return url


def check_template_name(name: str) -> str:
    if not TEMPLATE_NAME.fullmatch(name):
        raise ValueError(
            "Use the template's name as approved by WhatsApp: lower-case letters, digits "
            "and underscores, e.g. spring_offer"
        )
    return name


def placeholders(text: str | None) -> list[int]:
    """The variable numbers a template body uses, in order, each once."""
    return sorted({int(number) for number in PLACEHOLDER.findall(text or "")})


def missing_variables(body: str | None, variables: Sequence[str]) -> int:
    """How many variables the body needs beyond those given (0 when it has enough)."""
    used = placeholders(body)
    return max(0, (used[-1] if used else 0) - len(variables))


def fill(body: str | None, variables: Sequence[str]) -> str:
    """The body as a contact reads it: each `{{n}}` replaced by variable n, when given."""

    def value(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return variables[index] if 0 <= index < len(variables) else match.group(0)

    return PLACEHOLDER.sub(value, body or "")
