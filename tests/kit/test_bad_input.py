"""Bad input refused at the edge with a 4xx problem, on both engines, never a 500.

PostgreSQL cannot store U+0000 in text, a deeply nested JSON document exhausts the parser's
recursion, and NaN/Infinity are not JSON numbers (RFC 8259) yet Python's parser accepts them:
each was a 500 somewhere (issue 10, item 11).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.dataport.support import jsonl, make_zip
from tests.helpers import assert_problem, register
from tests.web.browsing import csrf_from

WEBCHAT_WITH_NUL = "/api/webchat/abc%00def/messages"


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def multipart(*parts: tuple[bytes, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body made by hand: (Content-Disposition parameters, value) per part.

    httpx percent-escapes control characters in names, as browsers do for some; other
    clients send them raw, which is what these tests need."""
    boundary = b"flow-test-boundary"
    body = b"".join(
        b"--"
        + boundary
        + b"\r\nContent-Disposition: form-data; "
        + disposition
        + b"\r\n\r\n"
        + value
        + b"\r\n"
        for disposition, value in parts
    )
    content_type = f"multipart/form-data; boundary={boundary.decode()}"
    return body + b"--" + boundary + b"--\r\n", {"content-type": content_type}


EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18


class TestNulCharacters:
    async def test_in_a_path_parameter(self, client: httpx.AsyncClient) -> None:
        posted = await client.post(WEBCHAT_WITH_NUL, json={"visitor": "visitor-1", "text": "hi"})
        assert_problem(posted, 422, "invalid-input")
        assert "NUL" in posted.json()["detail"]
        read = await client.get(WEBCHAT_WITH_NUL, params={"visitor": "visitor-1"})
        assert_problem(read, 422, "invalid-input")

    @pytest.mark.parametrize(
        "content_type",
        [
            "application/merge-patch+json",
            "application/vnd.api+json; charset=utf-8",
            "APPLICATION/JSON",
            None,  # FastAPI reads a body without a content type as JSON too
        ],
    )
    async def test_in_any_json_body(
        self, client: httpx.AsyncClient, content_type: str | None
    ) -> None:
        owner = await register(client)
        headers = {**owner.headers, **({"content-type": content_type} if content_type else {})}
        body = json.dumps({"name": "a\u0000b", "role": "r"}).encode()
        response = await client.post("/api/agents", content=body, headers=headers)
        assert_problem(response, 422, "invalid-input")
        listed = await client.get("/api/agents", headers=owner.headers)
        assert listed.json()["total"] == 0

    async def test_in_a_multipart_web_form_field(self, client: httpx.AsyncClient) -> None:
        token = csrf_from((await client.get("/signin")).text)
        body, headers = multipart(
            (b'name="csrf_token"', token.encode()),
            (b'name="email"', b"a\x00b@example.com"),
            (b'name="password"', b"x"),
        )
        response = await client.post("/signin", content=body, headers=headers)
        assert_problem(response, 422, "invalid-input")

    async def test_in_a_multipart_field_name(self, client: httpx.AsyncClient) -> None:
        token = csrf_from((await client.get("/signin")).text)
        body, headers = multipart(
            (b'name="csrf_token"', token.encode()), (b'name="e\x00mail"', b"a@example.com")
        )
        response = await client.post("/signin", content=body, headers=headers)
        assert_problem(response, 422, "invalid-input")

    async def test_in_an_uploaded_file_name(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        good = make_zip({"agents.jsonl": jsonl({"name": "A"})})
        body, headers = multipart((b'name="file"; filename="export\x00.zip"', good))
        response = await client.post(
            "/api/data/imports", content=body, headers={**owner.headers, **headers}
        )
        assert_problem(response, 422, "invalid-input")
        runs = await client.get("/api/data/imports", headers=owner.headers)
        assert runs.json() == []

    async def test_zero_bytes_inside_an_uploaded_file_are_data(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        # An empty zip is all zero bytes after its signature: refused for its content (no
        # entity files), not for holding NULs.
        response = await client.post(
            "/api/data/import",
            files={"file": ("export.zip", EMPTY_ZIP, "application/zip")},
            headers=owner.headers,
        )
        body = assert_problem(response, 422, "import-invalid")
        assert body["errors"][0]["message"] == "The archive holds no entity files."


class TestJsonShape:
    async def test_deep_nesting_to_the_unauthenticated_whatsapp_webhook(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/api/channels/whatsapp/webhook",
            content=nested(100_000),
            headers={"content-type": "application/json", "x-hub-signature-256": "sha256=00"},
        )
        body = assert_problem(response, 422, "invalid-input")
        assert "nested" in body["detail"]

    async def test_nesting_is_bounded_on_every_json_route(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)

        def batch(properties: bytes) -> bytes:  # 3 levels around the properties
            return b'{"events": [{"name": "ui.clicked", "properties": ' + properties + b"}]}"

        refused = await client.post(
            "/api/events",
            content=batch(nested(62)),
            headers={**owner.headers, "content-type": "application/vnd.api+json"},
        )
        body = assert_problem(refused, 422, "invalid-input")
        assert "64 levels" in body["detail"]
        accepted = await client.post(
            "/api/events",
            content=batch(nested(61)),
            headers={**owner.headers, "content-type": "application/json"},
        )
        assert accepted.status_code == 202, accepted.text

    async def test_brackets_inside_strings_are_text(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        name = '[[[{{{"\\' * 30
        response = await client.post(
            "/api/agents", json={"name": name[:100], "role": "r"}, headers=owner.headers
        )
        assert response.status_code == 201, response.text
        assert response.json()["name"] == name[:100]

    @pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
    async def test_nan_and_infinity_are_not_json_numbers(
        self, client: httpx.AsyncClient, literal: str
    ) -> None:
        # Python's parser accepts them; PostgreSQL's JSONB refuses them and no JSON answer
        # can carry them back (a 500 on one engine at writing, on the other at reading).
        owner = await register(client)
        body = f'{{"events": [{{"name": "ui.clicked", "properties": {{"x": {literal}}}}}]}}'
        response = await client.post(
            "/api/events",
            content=body.encode(),
            headers={**owner.headers, "content-type": "application/json"},
        )
        assert_problem(response, 422, "invalid-input")
        listed = await client.get("/api/events", headers=owner.headers)
        assert listed.status_code == 200, listed.text

    async def test_the_words_inside_strings_are_text(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        event = {"name": "ui.clicked", "properties": {"NaN": "Infinity", "-Infinity": [1.5]}}
        response = await client.post("/api/events", json={"events": [event]}, headers=owner.headers)
        assert response.status_code == 202, response.text


async def test_every_refusal_is_a_problem_document(client: httpx.AsyncClient) -> None:
    checks: list[tuple[str, dict[str, Any]]] = [
        (WEBCHAT_WITH_NUL, {"json": {}}),
        ("/api/auth/login", {"content": nested(500)}),
    ]
    for path, kwargs in checks:
        response = await client.post(path, **kwargs)
        assert 400 <= response.status_code < 500
        assert response.headers["content-type"].startswith("application/problem+json")


class TestJsonUploads:
    async def test_a_deeply_nested_json_report_file_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        """A JSON file inside a multipart upload is parsed by its domain: same rule there."""
        owner = await register(client)
        campaign = await client.post(
            "/api/campaigns",
            json={"name": "C", "platform": "email", "currency": "EUR"},
            headers=owner.headers,
        )
        assert campaign.status_code == 201, campaign.text
        deep = b"[" * 100_000 + b"]" * 100_000
        response = await client.post(
            f"/api/campaigns/{campaign.json()['id']}/reports/file",
            files={"file": ("report.json", deep, "application/json")},
            headers=owner.headers,
        )
        assert_problem(response, 422)
