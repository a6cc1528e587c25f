"""Web origins (RFC 6454) as a workspace lists them for browser access, and matching the
`Origin` header a browser sends against such a list.

An entry is `scheme://host[:port]`: http or https, a DNS name or an IP literal, nothing after
the authority (no path, query, fragment or user info), written the way browsers serialise the
`Origin` header (lower case, punycode for international names, no default port), so matching
is a plain comparison. One wildcard form exists, and only one: `https://*.example.com` stands
for every subdomain of `example.com`, at any depth, with that scheme and port, and not for
`example.com` itself (list both when both embed). The part after `*.` needs at least two
labels, so `https://*.com` is refused; a wildcard over a shared suffix such as `*.co.uk` would
still admit strangers' sites, which is the lister's responsibility.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

from intuitivus_flow.kit.errors import Forbidden

DEFAULT_PORTS = {"http": 80, "https": 443}
WILDCARD = "*."
MAX_ORIGIN_LENGTH = 200
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# What a wildcard stands for in a browser's Origin: one or more labels, nothing else.
_SUBDOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*$")


class OriginError(ValueError):
    """Why a text is not an origin; the message is for people."""


def normalise_origin(text: str) -> str:
    """`text` as the browser would send it in `Origin`, or `OriginError` saying what is wrong
    (`HTTPS://Shop.Example.com:443/` -> `https://shop.example.com`)."""
    value = text.strip()
    if not value:
        raise OriginError("an origin cannot be empty")
    if len(value) > MAX_ORIGIN_LENGTH:
        raise OriginError(f"an origin has at most {MAX_ORIGIN_LENGTH} characters")
    if any(char.isspace() or ord(char) < 0x20 for char in value):
        raise OriginError(f"{value!r} contains spaces or control characters")
    scheme, separator, rest = value.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in DEFAULT_PORTS:
        raise OriginError(f"{value!r} must start with https:// or http://")
    authority, _, tail = rest.partition("/")
    if tail or "?" in authority or "#" in authority:
        raise OriginError(
            f"{value!r} has a path, query or fragment: give only scheme://host[:port]"
        )
    if "@" in authority:
        raise OriginError(f"{value!r} contains user information")
    try:
        parts = urlsplit(f"{scheme}://{authority}")
        host, port = parts.hostname, parts.port
    except ValueError as error:  # a bad port or bracketed address
        raise OriginError(f"{value!r} has an invalid host or port") from error
    if not host:
        raise OriginError(f"{value!r} has no host")
    wildcard = host.startswith(WILDCARD)
    host = _host(host.removeprefix(WILDCARD) if wildcard else host, value, wildcard=wildcard)
    shown_port = "" if port is None or port == DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{WILDCARD if wildcard else ''}{host}{shown_port}"


def _host(host: str, original: str, *, wildcard: bool) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if wildcard:
            raise OriginError(f"{original!r}: a wildcard needs a domain name, not an address")
        return f"[{address.compressed}]" if address.version == 6 else address.compressed
    if "*" in host:
        raise OriginError(
            f"{original!r}: the only wildcard is a leading '*.' for subdomains "
            "(https://*.example.com)"
        )
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise OriginError(f"{original!r} has an invalid host name") from error
    labels = ascii_host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise OriginError(f"{original!r} has an invalid host name")
    if wildcard and len(labels) < 2:
        raise OriginError(
            f"{original!r}: a wildcard must name a domain with at least two labels "
            "(https://*.example.com)"
        )
    return ascii_host


def normalise_origins(texts: Iterable[str]) -> list[str]:
    """Each entry normalised, duplicates removed, in the order given."""
    return list(dict.fromkeys(normalise_origin(text) for text in texts if text.strip()))


@dataclass(frozen=True, slots=True)
class OriginList:
    """Normalised entries; `allows` takes the browser's `Origin` header as sent."""

    entries: Sequence[str]

    def allows(self, origin: str | None) -> bool:
        if not origin or origin == "null":  # opaque origins (sandboxes, file://) match nothing
            return False
        if origin in self.entries:
            return True
        scheme, separator, authority = origin.partition("://")
        if not separator:
            return False
        for entry in self.entries:
            entry_scheme, _, entry_authority = entry.partition("://")
            if entry_scheme != scheme or not entry_authority.startswith(WILDCARD):
                continue
            suffix = entry_authority.removeprefix("*")  # ".example.com[:port]"
            head = authority.removesuffix(suffix)
            if head != authority and _SUBDOMAIN.match(head):
                return True
        return False


def refuse_unannounced(
    method: str, headers: str | None, *, methods: Sequence[str], allowed: Sequence[str], what: str
) -> None:
    """A CORS preflight's announced method and request headers (`Access-Control-Request-*`):
    Forbidden for a method outside `methods` or any header outside `allowed` (lower case)."""
    if method not in methods:
        raise Forbidden(f"{what} answers {' and '.join(methods)} only")
    announced = {name.strip().lower() for name in (headers or "").split(",") if name.strip()}
    if unknown := sorted(announced - set(allowed)):
        raise Forbidden(f"{what} accepts no request header {', '.join(unknown)[:200]}")
