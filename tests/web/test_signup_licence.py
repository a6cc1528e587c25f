"""The web sign-up form's licence key: required with FLOW_SIGNUP_REQUIRES_LICENCE, optional
otherwise, redeemed like the API does, and a bad key creates nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.billing.models import Licence, Subscription
from intuitivus_flow.users.models import User
from intuitivus_flow.workspaces.models import Workspace
from tests.billing.helpers import make_licence
from tests.web.browsing import PASSWORD, submit, text_of


@asynccontextmanager
async def browser(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh browser (its own cookies) for each sign-up."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def sign_up(app: Any, email: str, licence_key: str | None) -> httpx.Response:
    fields = {"email": email, "password": PASSWORD, "name": "Lia", "workspace_name": "Lia Co"}
    if licence_key is not None:
        fields["licence_key"] = licence_key
    async with browser(app) as client:
        return await submit(client, "/signup", "/signup", dict(fields))


async def counts(app: Any) -> tuple[int, int]:
    """(users, workspaces) in the database."""
    async with app.state.context.sessions() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        workspaces = await session.scalar(select(func.count()).select_from(Workspace))
        return int(users or 0), int(workspaces or 0)


async def plan_of(app: Any, email: str) -> tuple[str, str] | None:
    """(plan, status) of the subscription of the workspace `email` owns."""
    async with app.state.context.sessions() as session:
        row = (
            await session.execute(
                select(Subscription.plan, Subscription.status)
                .join(User, User.workspace_id == Subscription.workspace_id)
                .where(User.email == email)
            )
        ).first()
        return (row.plan, row.status) if row else None


async def licence_status(app: Any, key_hint: str) -> str:
    async with app.state.context.sessions() as session:
        status = await session.scalar(select(Licence.status).where(Licence.key_hint == key_hint))
        return str(status)


def assert_field_error(response: httpx.Response, message: str) -> None:
    assert response.status_code == 422, response.text
    assert 'id="f-licence_key-error"' in response.text
    assert message in text_of(response.text)


class TestLicenceRequired:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"signup_requires_licence": True}

    async def test_the_field_is_required(self, app: Any) -> None:
        async with browser(app) as client:
            page = await client.get("/signup")
        assert page.status_code == 200
        assert 'name="licence_key"' in page.text
        assert "This server needs a licence to sign up" in page.text
        field = page.text.split('id="f-licence_key"', 1)[1].split(">", 1)[0]
        assert "required" in field

    async def test_missing_or_bad_keys_create_nothing(self, app: Any) -> None:
        revoked = await make_licence(app, status="revoked")
        used = await make_licence(app, status="redeemed")
        for key, message in (
            (None, "A licence key is required to sign up"),
            ("", "A licence key is required to sign up"),
            ("IFL-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF", "This licence key is not valid"),
            (revoked, "This licence was revoked"),
            (used, "This licence key was already used"),
        ):
            refused = await sign_up(app, "nobody@example.com", key)
            assert_field_error(refused, message)
            assert "flow_session" not in refused.cookies
            assert await counts(app) == (0, 0), key
        too_long = await sign_up(app, "nobody@example.com", "IFL-" + "A" * 120)
        assert too_long.status_code == 422
        assert await counts(app) == (0, 0)

    async def test_a_valid_key_signs_up_and_is_redeemed(self, app: Any) -> None:
        key = await make_licence(app, plan="starter")
        typed = key.lower().replace("-", " ")  # keys are typed by people
        created = await sign_up(app, "lia@example.com", typed)
        assert created.status_code == 303, text_of(created.text)
        assert created.headers["location"] == "/"
        assert await counts(app) == (1, 1)
        assert await plan_of(app, "lia@example.com") == ("starter", "active")
        assert await licence_status(app, key[-4:]) == "redeemed"
        again = await sign_up(app, "second@example.com", key)
        assert_field_error(again, "already used")
        assert await counts(app) == (1, 1)

    async def test_other_errors_keep_the_typed_key(self, app: Any) -> None:
        key = await make_licence(app)
        await sign_up(app, "taken@example.com", key)
        second = await make_licence(app)
        refused = await sign_up(app, "taken@example.com", second)
        assert refused.status_code == 409
        assert f'value="{second}"' in refused.text
        assert await licence_status(app, second[-4:]) == "available"


class TestLicenceOptional:
    async def test_the_field_is_offered(self, app: Any) -> None:
        async with browser(app) as client:
            page = await client.get("/signup")
        assert "Have a licence key?" in page.text
        field = page.text.split('id="f-licence_key"', 1)[1].split(">", 1)[0]
        assert "required" not in field

    async def test_without_a_key_the_workspace_is_free(self, app: Any) -> None:
        created = await sign_up(app, "free@example.com", "")
        assert created.status_code == 303
        assert await plan_of(app, "free@example.com") is None
        assert await counts(app) == (1, 1)

    async def test_a_key_given_is_redeemed(self, app: Any) -> None:
        key = await make_licence(app, plan="pro")
        created = await sign_up(app, "pro@example.com", key)
        assert created.status_code == 303
        assert await plan_of(app, "pro@example.com") == ("pro", "active")

    async def test_a_bad_key_creates_nothing(self, app: Any) -> None:
        revoked = await make_licence(app, status="revoked")
        for key, message in (
            ("IFL-NOPE-NOPE-NOPE-NOPE-NOPE-NOPE", "not valid"),
            (revoked, "revoked"),
        ):
            refused = await sign_up(app, "typo@example.com", key)
            assert_field_error(refused, message)
            assert await counts(app) == (0, 0)
