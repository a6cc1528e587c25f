"""A refused upload is a 4xx and the connection serves the next request (issue 10, item 11).

An exception escaping the application after its 500 was sent makes uvicorn close the
connection (it cannot know what state the request left): every 500 on an upload cost the
client its keep-alive connection, and the rest of the upload was never read. Refusals are
4xx answers now, and the connection survives them, on both engines.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.dataport.crafted import bad_crc
from tests.helpers import register
from tests.kit.served import client_address, served
from tests.kit.test_bad_input import multipart
from tests.web.browsing import csrf_from


async def test_refused_uploads_keep_the_connection(app: Any, client: httpx.AsyncClient) -> None:
    owner = await register(client)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with served(app) as url, httpx.AsyncClient(base_url=url, limits=limits) as http:
        first = await http.get("/signin")
        connection = client_address(first)
        nul_name, nul_name_headers = multipart((b'name="file"; filename="a\x00.zip"', bad_crc()))
        # Refused at its first bytes: the rest (megabytes) is read and dropped, not left behind.
        nul_first, nul_first_headers = multipart(
            (b'name="file"; filename="b\x00.zip"', b"x" * 3_000_000)
        )
        token = csrf_from(first.text)
        nul_field, nul_field_headers = multipart(
            (b'name="csrf_token"', token.encode()), (b'name="email"', b"a\x00@example.com")
        )
        refusals: list[tuple[str, dict[str, Any]]] = [
            (
                "/api/data/import",
                {"files": {"file": ("export.zip", bad_crc(), "application/zip")}},
            ),
            ("/api/data/imports", {"content": nul_name, "headers": nul_name_headers}),
            ("/api/data/imports", {"content": nul_first, "headers": nul_first_headers}),
            ("/signin", {"content": nul_field, "headers": nul_field_headers}),
        ]
        for path, request in refusals:
            headers = {**owner.headers, **request.pop("headers", {})}
            refused = await http.post(path, headers=headers, **request)
            after = await http.get("/health")
            assert after.status_code == 200
            lost = f"{path} ({refused.status_code}) cost the connection"
            assert client_address(after) == connection, lost
            assert 400 <= refused.status_code < 500, (path, refused.text)
