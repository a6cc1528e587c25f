"""What the generated cases cannot produce: NUL characters where a client would not put them,
`+json` media types, deeply nested JSON, multipart forms and crafted import archives.

Every input must get a 4xx problem+json (never a 500) and leave nothing half written. Each was
a 500 found by probing the product from outside (issue 10, item 11). Both engines.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.agents.models import Agent
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.conversations.models import Message
from intuitivus_flow.models import Base
from intuitivus_flow.task_registry import worker_for
from tests.helpers import PASSWORD, Account, register, unique_email
from tests.web.browsing import csrf_from

pytestmark = pytest.mark.fuzz

DEPTH = 100_000  # far past Python's recursion limit, well under the 1 MiB body limit


def deep_array(depth: int = DEPTH) -> str:
    return "[" * depth + "]" * depth


def assert_client_error(response: httpx.Response) -> dict[str, Any]:
    """A 4xx problem document: the client is told what is wrong, the server did not fail."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


async def rows(app: Any, model: type[Base]) -> int:
    async with app.state.context.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await register(client)


class TestNulCharacters:
    async def test_in_a_path_parameter_of_an_open_endpoint(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/api/webchat/abc%00def/messages", json={"visitor": "v1", "text": "hello"}
        )
        assert_client_error(response)
        assert await rows(app, Message) == 0

    async def test_in_a_path_parameter_with_credentials(
        self, client: httpx.AsyncClient, owner: Account
    ) -> None:
        for path in ("/api/agents/abc%00def", "/api/contacts/%00", "/api/campaigns/x%00y"):
            assert_client_error(await client.get(path, headers=owner.headers))

    @pytest.mark.parametrize(
        "media_type",
        ["application/merge-patch+json", "application/vnd.api+json", "application/x+json"],
    )
    async def test_in_json_sent_as_a_plus_json_media_type(
        self, app: Any, client: httpx.AsyncClient, owner: Account, media_type: str
    ) -> None:
        body = json.dumps({"name": "a\u0000b", "phone": "+5511999990000"})
        response = await client.post(
            "/api/contacts",
            content=body,
            headers={**owner.headers, "content-type": media_type},
        )
        assert_client_error(response)
        assert await rows(app, Contact) == 0

    async def test_in_a_multipart_api_upload(
        self, app: Any, client: httpx.AsyncClient, owner: Account
    ) -> None:
        archive = _zip({"agents.jsonl": '{"name": "ok"}\n'})
        response = await client.post(
            "/api/data/import",
            files={"file": ("export\u0000.zip", archive, "application/zip")},
            data={"note": "a\u0000b"},
            headers=owner.headers,
        )
        assert_client_error(response)
        assert await rows(app, Agent) == 0

    async def test_in_a_multipart_web_form(self, app: Any, client: httpx.AsyncClient) -> None:
        token = csrf_from((await client.get("/signup")).text)
        fields = {
            "csrf_token": token,
            "email": unique_email("web"),
            "password": PASSWORD,
            "name": "a\u0000b",
            "workspace_name": "W\u0000",
        }
        # httpx sends multipart/form-data when `files` is given, as a browser does with
        # enctype="multipart/form-data".
        response = await client.post(
            "/signup", data=fields, files={"unused": ("empty.txt", b"", "text/plain")}
        )
        assert_client_error(response)
        assert await rows(app, Contact) == 0


class TestDeeplyNestedJson:
    async def test_to_the_whatsapp_webhook(self, app: Any, client: httpx.AsyncClient) -> None:
        body = '{"object": "whatsapp_business_account", "entry": ' + deep_array() + "}"
        response = await client.post(
            "/api/channels/whatsapp/webhook",
            content=body,
            headers={"content-type": "application/json", "x-hub-signature-256": "sha256=00"},
        )
        assert_client_error(response)
        assert await rows(app, Message) == 0

    async def test_to_an_authenticated_json_endpoint(
        self, app: Any, client: httpx.AsyncClient, owner: Account
    ) -> None:
        body = '{"name": "Deep", "attributes": {"k": ' + deep_array() + "}}"
        response = await client.post(
            "/api/contacts",
            content=body,
            headers={**owner.headers, "content-type": "application/json"},
        )
        assert_client_error(response)
        assert await rows(app, Contact) == 0


# ---- crafted import archives --------------------------------------------------------------

AGENTS = '{"name": "First"}\n{"name": "Second"}\n'
LOCAL_HEADER = b"PK\x03\x04"
CENTRAL_HEADER = b"PK\x01\x02"


def _zip(files: dict[str, str], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_headers(data: bytes, *, local: int, central: int, fmt: str, value: int) -> bytes:
    """Overwrite one field of the (single) entry in both its local and central headers, at
    the field's offset in each (APPNOTE.TXT 4.3.7 and 4.3.12)."""
    patched = bytearray(data)
    for signature, offset in ((LOCAL_HEADER, local), (CENTRAL_HEADER, central)):
        start = patched.index(signature) + offset
        struct.pack_into(fmt, patched, start, value)
    return bytes(patched)


def bad_crc() -> bytes:
    return _patch_headers(
        _zip({"agents.jsonl": AGENTS}),
        local=14,
        central=16,
        fmt="<I",
        value=zlib.crc32(b"x"),
    )


def corrupt_deflate() -> bytes:
    data = bytearray(_zip({"agents.jsonl": AGENTS * 50}))
    name_length, extra_length = struct.unpack_from("<HH", data, 26)
    start = 30 + name_length + extra_length
    data[start : start + 16] = b"\xff" * 16  # an invalid deflate block type
    return bytes(data)


def encrypted_flag() -> bytes:
    # General purpose bit 0: "encrypted"; the reader needs a password it does not have.
    return _patch_headers(
        _zip({"agents.jsonl": AGENTS}), local=6, central=8, fmt="<H", value=0x0001
    )


def unsupported_compression() -> bytes:
    # Method 99 is WinZip AES: a valid method number Python's zipfile cannot read.
    return _patch_headers(_zip({"agents.jsonl": AGENTS}), local=8, central=10, fmt="<H", value=99)


def lying_declared_size() -> bytes:
    # The headers promise far more than the entry holds (a zip-bomb's first line of defence
    # reads the declared size; the data then ends early).
    return _patch_headers(
        _zip({"agents.jsonl": AGENTS}), local=22, central=24, fmt="<I", value=2**32 - 1
    )


def lying_small_size() -> bytes:
    return _patch_headers(_zip({"agents.jsonl": AGENTS}), local=22, central=24, fmt="<I", value=3)


def deeply_nested_line() -> bytes:
    line = '{"name": "Deep", "role": ' + deep_array() + "}\n"
    return _zip({"agents.jsonl": '{"name": "ok"}\n' + line})


def huge_max_tokens() -> bytes:
    return _zip(
        {
            "agents.jsonl": '{"name": "ok"}\n'
            + json.dumps({"name": "Big"})[:-1]
            + (', "max_tokens": ' + str(10**30) + "}\n")
        }
    )


def year_one_with_offset() -> bytes:
    # 0001-01-01 at +05:00 is before the first representable UTC instant.
    row = {"name": "Old", "created_at": "0001-01-01T00:00:00+05:00"}
    return _zip({"agents.jsonl": '{"name": "ok"}\n' + json.dumps(row) + "\n"})


ARCHIVES: dict[str, Callable[[], bytes]] = {
    "bad CRC": bad_crc,
    "corrupt deflate": corrupt_deflate,
    "encrypted flag": encrypted_flag,
    "unsupported compression method": unsupported_compression,
    "declared size larger than the data": lying_declared_size,
    "declared size smaller than the data": lying_small_size,
    "deeply nested JSON line": deeply_nested_line,
    "max_tokens 10**30": huge_max_tokens,
    "year-1 date with an offset": year_one_with_offset,
}


@pytest.mark.parametrize("craft", ARCHIVES.values(), ids=list(ARCHIVES))
class TestCraftedArchives:
    async def test_an_import_in_the_request_refuses_it(
        self, app: Any, client: httpx.AsyncClient, owner: Account, craft: Callable[[], bytes]
    ) -> None:
        for dry_run in ("true", "false"):
            response = await client.post(
                "/api/data/import",
                params={"dry_run": dry_run},
                files={"file": ("export.zip", craft(), "application/zip")},
                headers=owner.headers,
            )
            assert_client_error(response)
        assert await rows(app, Agent) == 0

    async def test_a_queued_import_fails_once_with_a_clean_message(
        self, app: Any, client: httpx.AsyncClient, owner: Account, craft: Callable[[], bytes]
    ) -> None:
        queued = await client.post(
            "/api/data/imports",
            files={"file": ("export.zip", craft(), "application/zip")},
            headers=owner.headers,
        )
        if queued.status_code != 202:  # refused before queueing: as good, if it is a 4xx
            assert_client_error(queued)
            return
        await _run_jobs(app)
        run = await client.get(f"/api/data/imports/{queued.json()['id']}", headers=owner.headers)
        assert run.status_code == 200, run.text
        outcome = run.json()
        # Bad input is final: no retry, and the message is for people, not a traceback.
        assert (outcome["status"], outcome["attempts"]) == ("failed", 1), outcome
        assert not any(word in (outcome["message"] or "") for word in _INTERNALS), outcome
        assert await rows(app, Agent) == 0


# Words of exceptions and SQL that must never reach a run's message.
_INTERNALS = ("Traceback", "Error:", "SELECT", "INSERT", "[SQL", "sqlalchemy", "zlib")


async def _run_jobs(app: Any) -> None:
    await worker_for(app.state.context, name="fuzz-worker").run_until_idle()
