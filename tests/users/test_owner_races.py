"""A workspace never loses its last active owner, even when owners act on each other at the
same moment: parallel requests, repeated, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.helpers import Account, assert_problem, invite_and_join, me, register

TRIALS = 5


async def two_owners(client: httpx.AsyncClient) -> tuple[Account, str, Account, str]:
    first = await register(client)
    second = await invite_and_join(client, first, role="owner")
    first_id = str((await me(client, first.headers))["id"])
    second_id = str((await me(client, second.headers))["id"])
    return first, first_id, second, second_id


async def active_owners(client: httpx.AsyncClient, owner: Account) -> int:
    listing = await client.get("/api/workspace/members", headers=owner.headers)
    assert listing.status_code == 200, listing.text
    return sum(1 for item in listing.json()["items"] if item["role"] == "owner" and item["active"])


def demote(client: httpx.AsyncClient, actor: Account, member_id: str) -> object:
    return client.put(
        f"/api/workspace/members/{member_id}/role", json={"role": "admin"}, headers=actor.headers
    )


def deactivate(client: httpx.AsyncClient, actor: Account, member_id: str) -> object:
    return client.post(f"/api/workspace/members/{member_id}/deactivate", headers=actor.headers)


ACTIONS = {"demote": demote, "deactivate": deactivate}


@pytest.mark.parametrize(
    ("first_action", "second_action"),
    [("demote", "demote"), ("deactivate", "deactivate"), ("demote", "deactivate")],
)
async def test_owners_acting_on_each_other_keep_one_owner(
    client: httpx.AsyncClient, first_action: str, second_action: str
) -> None:
    for _ in range(TRIALS):
        first, first_id, second, second_id = await two_owners(client)
        responses: list[httpx.Response] = await asyncio.gather(
            ACTIONS[first_action](client, first, second_id),  # type: ignore[arg-type]
            ACTIONS[second_action](client, second, first_id),  # type: ignore[arg-type]
        )
        statuses = Counter(response.status_code for response in responses)
        assert statuses[200] == 1, [response.text for response in responses]
        # The loser is refused either as no longer an owner (403) or because the winner is
        # now the last one (422), depending on which request took the lock first.
        loser = next(response for response in responses if response.status_code != 200)
        assert_problem(loser, loser.status_code)
        assert loser.status_code in (403, 422)
        winner = first if responses[0].status_code == 200 else second
        assert await active_owners(client, winner) == 1


async def test_many_parallel_demotions_leave_one_owner(client: httpx.AsyncClient) -> None:
    """Three owners each demote the other two at once: exactly two demotions can succeed."""
    founder = await register(client)
    owners = [founder] + [await invite_and_join(client, founder, role="owner") for _ in range(2)]
    ids = [str((await me(client, owner.headers))["id"]) for owner in owners]
    responses: list[httpx.Response] = await asyncio.gather(
        *(
            demote(client, actor, target)  # type: ignore[misc]
            for actor in owners
            for target in ids
            if target != ids[owners.index(actor)]
        )
    )
    assert all(response.status_code in (200, 403, 422) for response in responses), [
        response.text for response in responses
    ]
    listing = await client.get("/api/workspace/members", headers=founder.headers)
    owners_left = [item for item in listing.json()["items"] if item["role"] == "owner"]
    if not owners_left:
        pytest.fail("the workspace lost every owner")
    assert len(owners_left) == 1
