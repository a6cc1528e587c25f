"""Origins as a workspace lists them and as browsers send them (kit/origins.py)."""

from __future__ import annotations

import pytest

from intuitivus_flow.kit.origins import OriginError, OriginList, normalise_origin, normalise_origins


@pytest.mark.parametrize(
    ("written", "sent_by_browsers"),
    [
        ("HTTPS://Shop.Example.com:443/", "https://shop.example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("http://[0:0:0:0:0:0:0:1]:3000", "http://[::1]:3000"),
        ("https://bücher.de", "https://xn--bcher-kva.de"),
        ("  https://*.Example.com  ", "https://*.example.com"),
        ("https://*.eu.example.com:8443", "https://*.eu.example.com:8443"),
    ],
)
def test_entries_are_written_as_browsers_send_them(written: str, sent_by_browsers: str) -> None:
    assert normalise_origin(written) == sent_by_browsers


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("", "empty"),
        ("shop.example.com", "https:// or http://"),
        ("ftp://shop.example.com", "https:// or http://"),
        ("https://shop.example.com/chat", "path"),
        ("https://shop.example.com?x=1", "path, query"),
        ("https://shop.example.com#top", "path, query or fragment"),
        ("https://user:pw@shop.example.com", "user information"),
        ("https://shop.example.com:99999", "port"),
        ("https://", "no host"),
        ("https://*", "only wildcard"),
        ("https://*.com", "two labels"),
        ("https://shop.*.com", "only wildcard"),
        ("https://*.*.example.com", "only wildcard"),
        ("https://*.10.0.0.1", "not an address"),
        ("https://-shop.example.com", "invalid host"),
        ("https://shop example.com", "spaces"),
        ("https://" + "a" * 300 + ".com", "200 characters"),
    ],
)
def test_anything_else_is_refused_with_a_reason(entry: str, reason: str) -> None:
    with pytest.raises(OriginError, match=reason):
        normalise_origin(entry)


def test_a_list_drops_blank_lines_and_duplicates_in_order() -> None:
    assert normalise_origins(
        ["https://b.example", "", "HTTPS://b.example", "https://a.example"]
    ) == [
        "https://b.example",
        "https://a.example",
    ]


class TestMatching:
    listed = OriginList(["https://shop.example.com", "https://*.example.org:8443"])

    @pytest.mark.parametrize(
        "origin",
        ["https://shop.example.com", "https://a.example.org:8443", "https://a.b.example.org:8443"],
    )
    def test_listed_origins_match(self, origin: str) -> None:
        assert self.listed.allows(origin)

    @pytest.mark.parametrize(
        "origin",
        [
            None,
            "",
            "null",  # sandboxed frames and file:// pages
            "http://shop.example.com",  # another scheme
            "https://shop.example.com:444",  # another port
            "https://shop.example.com.evil.net",
            "https://example.org:8443",  # the wildcard is for subdomains only
            "https://a.example.org",  # the wildcard keeps its port
            "https://evilexample.org:8443",
            "https://a:b.example.org:8443",
            "https://a/.example.org:8443",
        ],
    )
    def test_anything_else_does_not(self, origin: str | None) -> None:
        assert not self.listed.allows(origin)
