"""Creatives over the API: the JSON schema is still accepted, WhatsApp template creatives carry
their name, language and variables, and the rules (public URLs, template variables) refuse
input with the field named, while a creative stored before a rule existed still reads."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from intuitivus_flow.campaigns import creatives
from intuitivus_flow.campaigns.schemas import Creative, CreativeInput
from tests.campaigns.helpers import create_campaign
from tests.helpers import assert_problem, register

TEMPLATE = {
    "name": "Offer",
    "format": "whatsapp_template",
    "body": "Hi {{1}}, {{ 2 }} off",
    "template_name": "spring_offer",
    "template_language": "pt_BR",
    "template_variables": ["Ana", "20%"],
}


async def test_template_creatives_round_trip(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    hero = {"name": "Hero", "format": "image", "media_url": "https://cdn.example.com/a.png"}
    created = await create_campaign(client, owner, creatives=[hero, TEMPLATE])
    read = (await client.get(f"/api/campaigns/{created['id']}", headers=owner.headers)).json()
    offer = read["creatives"][1]
    assert {name: offer[name] for name in TEMPLATE} == TEMPLATE
    assert read["creatives"][0]["template_variables"] == []
    changed = await client.patch(
        f"/api/campaigns/{created['id']}",
        json={"creatives": [{**TEMPLATE, "template_variables": ["Bo", "30%"]}]},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["creatives"][0]["template_variables"] == ["Bo", "30%"]


@pytest.mark.parametrize(
    ("creative", "field"),
    [
        ({"media_url": "http://127.0.0.1:6379/x"}, "body.creatives.0.media_url"),
        ({"landing_url": "http://169.254.169.254/latest"}, "body.creatives.0.landing_url"),
        ({"landing_url": "http://[::ffff:10.0.0.1]/"}, "body.creatives.0.landing_url"),
        ({"media_url": "http://printer.localhost/a.png"}, "body.creatives.0.media_url"),
        ({"template_name": "spring_offer"}, "body.creatives.0"),  # not a template creative
        ({**TEMPLATE, "template_name": None}, "body.creatives.0"),
        ({**TEMPLATE, "template_name": "Spring Offer"}, "body.creatives.0.template_name"),
        ({**TEMPLATE, "template_variables": ["Ana"]}, "body.creatives.0"),
        ({**TEMPLATE, "template_variables": [""]}, "body.creatives.0.template_variables.0"),
        ({**TEMPLATE, "template_variables": ["x"] * 21}, "body.creatives.0.template_variables"),
    ],
)
async def test_refused_creatives_name_their_field(
    client: httpx.AsyncClient, creative: dict[str, Any], field: str
) -> None:
    owner = await register(client)
    body = {
        "name": "X",
        "platform": "meta_ads",
        "creatives": [{"name": "Hero", "format": "image", **creative}],
    }
    response = await client.post("/api/campaigns", json=body, headers=owner.headers)
    problem = assert_problem(response, 422)
    assert field in [error["field"] for error in problem["errors"]], problem
    listed = (await client.get("/api/campaigns", headers=owner.headers)).json()
    assert listed["total"] == 0


def test_rules_apply_to_input_only() -> None:
    # A creative stored before the public-address rule existed must still be readable.
    stored = {"name": "Old", "format": "image", "media_url": "http://10.0.0.8/a.png"}
    assert str(Creative.model_validate(stored).media_url) == "http://10.0.0.8/a.png"
    with pytest.raises(ValidationError, match="not a public address"):
        CreativeInput.model_validate(stored)
    public = {**stored, "media_url": "https://cdn.example.com/a.png"}
    assert CreativeInput.model_validate(public).media_url is not None


def test_template_placeholders() -> None:
    assert creatives.placeholders("Hi {{1}}, {{ 3 }} and {{1}} again") == [1, 3]
    assert creatives.missing_variables("Hi {{1}}, {{3}}", ["a"]) == 2
    assert creatives.missing_variables("No variables", []) == 0
    assert creatives.fill("Hi {{1}}, {{2}} off {{3}}", ["Ana", "20%"]) == "Hi Ana, 20% off {{3}}"
    assert creatives.fill(None, ["x"]) == ""
