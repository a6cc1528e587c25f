"""Performance reports: JSON and file ingest (all or nothing), derived metrics, auto-pause."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from intuitivus_flow.campaigns.metrics import ratio
from intuitivus_flow.campaigns.reports import FileReports, ReportRejected, decimals, to_minor
from tests.campaigns.helpers import activate, create_campaign, set_status
from tests.helpers import Account, assert_problem, register

pytestmark = pytest.mark.slow

START = "2026-10-01T00:00:00+00:00"
CSV_OK = (
    "date,impressions,clicks,conversions,spend,revenue\n"
    "2026-10-01,1000,50,5,25.00,100.00\n"
    "2026-10-02,0,0,0,0,0\n"
    "2026-10-03,2000,0,0,10.5,0\n"
)


def row(day: str, **fields: int) -> dict[str, Any]:
    values = {"impressions": 1000, "clicks": 40, "conversions": 4, "spend_minor": 2000}
    return {"date": day, **values, **fields}


async def post_rows(
    client: httpx.AsyncClient, account: Account, campaign_id: str, rows: list[dict[str, Any]]
) -> httpx.Response:
    return await client.post(
        f"/api/campaigns/{campaign_id}/reports", json={"rows": rows}, headers=account.headers
    )


async def upload(
    client: httpx.AsyncClient,
    account: Account,
    campaign_id: str,
    content: str,
    name: str = "report.csv",
) -> httpx.Response:
    return await client.post(
        f"/api/campaigns/{campaign_id}/reports/file",
        files={"file": (name, content.encode(), "text/csv")},
        headers=account.headers,
    )


async def performance(
    client: httpx.AsyncClient, account: Account, campaign_id: str
) -> dict[str, Any]:
    response = await client.get(
        f"/api/campaigns/{campaign_id}/performance", headers=account.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestApiIngest:
    async def test_rows_and_derived_metrics(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner, total_budget_minor=100_000)
        response = await post_rows(
            client,
            owner,
            campaign["id"],
            [row("2026-10-01", revenue_minor=8000), row("2026-10-02", impressions=3000)],
        )
        assert response.status_code == 200, response.text
        assert response.json()["rows"] == 2
        body = await performance(client, owner, campaign["id"])
        total = body["total"]
        assert (total["impressions"], total["clicks"], total["spend_minor"]) == (4000, 80, 4000)
        assert total["ctr"] == 0.02
        assert total["cpc_minor"] == 50.0
        assert total["cpa_minor"] == 500.0
        assert total["roas"] == 2.0
        assert body["budget_used_ratio"] == 0.04
        assert [day["date"] for day in body["days"]] == ["2026-10-01", "2026-10-02"]
        assert body["days"][1]["roas"] == 0.0

    async def test_zero_denominators_are_null(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        await post_rows(
            client,
            owner,
            campaign["id"],
            [row("2026-10-01", impressions=0, clicks=0, conversions=0, spend_minor=0)],
        )
        body = await performance(client, owner, campaign["id"])
        for metric in ("ctr", "cpc_minor", "cpa_minor", "roas"):
            assert body["total"][metric] is None
            assert body["days"][0][metric] is None
        assert body["budget_used_ratio"] is None  # no budget set

    async def test_a_day_sent_again_replaces_the_stored_one(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        await post_rows(client, owner, campaign["id"], [row("2026-10-01")])
        await post_rows(client, owner, campaign["id"], [row("2026-10-01", spend_minor=999)])
        body = await performance(client, owner, campaign["id"])
        assert [day["spend_minor"] for day in body["days"]] == [999]

    async def test_bad_rows_write_nothing(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        response = await post_rows(
            client,
            owner,
            campaign["id"],
            [row("2026-10-01"), row("2026-10-02", clicks=-1), row("2999-01-01")],
        )
        problem = assert_problem(response, 422)
        fields = {error["field"] for error in problem["errors"]}
        assert {"body.rows.1.clicks", "body.rows.2.date"} <= fields
        duplicate = await post_rows(
            client, owner, campaign["id"], [row("2026-10-01"), row("2026-10-01")]
        )
        problem = assert_problem(duplicate, 422)
        assert problem["errors"] == [
            {"line": 2, "field": "date", "msg": "2026-10-01 appears more than once"}
        ]
        assert (await performance(client, owner, campaign["id"]))["days"] == []


class TestFileIngest:
    async def test_csv_file(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        response = await upload(client, owner, campaign["id"], CSV_OK)
        assert response.status_code == 200, response.text
        metrics = response.json()["campaign"]["metrics"]
        assert (metrics["spend_minor"], metrics["revenue_minor"]) == (3550, 10000)
        assert metrics["cpa_minor"] == 710.0
        days = (await performance(client, owner, campaign["id"]))["days"]
        assert days[1]["ctr"] is None
        assert days[2]["cpc_minor"] is None

    async def test_json_file_in_a_zero_decimal_currency(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner, currency="JPY")
        content = (
            '{"rows": [{"date": "2026-10-01", "impressions": 10, "clicks": 1, '
            '"conversions": 0, "spend": 1200, "revenue": "3000"}]}'
        )
        response = await upload(client, owner, campaign["id"], content, "report.json")
        assert response.status_code == 200, response.text
        assert response.json()["campaign"]["metrics"]["spend_minor"] == 1200

    async def test_every_bad_row_is_reported_and_nothing_stored(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        content = (
            "date,impressions,clicks,conversions,spend,revenue\n"
            "2026-10-01,1000,50,5,25.00,100.00\n"
            "2026-13-01,1000,50,5,25.00,100.00\n"
            "2026-10-03,many,50,5,25.001,\n"
            "2026-10-04,1000,50,5,,-3\n"
            "2026-10-01,1,1,1,1,1\n"
        )
        problem = assert_problem(await upload(client, owner, campaign["id"], content), 422)
        found = {(error["line"], error["field"]) for error in problem["errors"]}
        assert found == {
            (3, "date"),
            (4, "impressions"),
            (4, "spend"),
            (5, "spend"),
            (5, "revenue"),
            (6, "date"),
        }
        assert "nothing was stored" in problem["detail"]
        assert (await performance(client, owner, campaign["id"]))["days"] == []

    @pytest.mark.parametrize(
        ("content", "name", "line", "field"),
        [
            ("date,clicks\n2026-10-01,1\n", "r.csv", 1, "conversions"),
            ("[1, 2", "r.json", 1, "file"),
            ('{"data": 1}', "r.json", 0, "file"),
            ("[3]", "r.json", 1, "row"),
            ('[{"date": "2026-10-01", "clicks": 1, "colour": "red"}]', "r.json", 1, "colour"),
            ("date,impressions,clicks,conversions,spend\n", "r.csv", 0, "file"),
        ],
    )
    async def test_malformed_files(
        self, client: httpx.AsyncClient, content: str, name: str, line: int, field: str
    ) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        problem = assert_problem(await upload(client, owner, campaign["id"], content, name), 422)
        assert {"line": line, "field": field} in [
            {"line": error["line"], "field": error["field"]} for error in problem["errors"]
        ]

    async def test_binary_garbage_is_refused(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        response = await client.post(
            f"/api/campaigns/{campaign['id']}/reports/file",
            files={"file": ("r.csv", b"\xff\xfe\x00bad", "text/csv")},
            headers=owner.headers,
        )
        assert assert_problem(response, 422)["errors"][0]["msg"] == "must be UTF-8 text"


class TestBudget:
    async def test_spend_reaching_the_budget_pauses_the_campaign(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner, total_budget_minor=5000, starts_at=START)
        cid = campaign["id"]
        await activate(client, owner, cid)
        below = await post_rows(client, owner, cid, [row("2026-10-01", spend_minor=4999)])
        assert below.json()["campaign"]["status"] == "active"
        reached = await post_rows(client, owner, cid, [row("2026-10-02", spend_minor=1)])
        assert reached.json()["campaign"]["status"] == "paused"
        timeline = (await client.get(f"/api/campaigns/{cid}/events", headers=owner.headers)).json()
        latest = timeline["items"][0]
        assert (latest["to_status"], latest["user_id"]) == ("paused", None)
        assert latest["reason"].startswith("budget_reached: spend 5000 reached the total budget")
        resumed = await set_status(client, owner, cid, "active")
        assert "spent its total budget" in assert_problem(resumed, 422)["detail"]
        raised = await client.patch(
            f"/api/campaigns/{cid}", json={"total_budget_minor": 9000}, headers=owner.headers
        )
        assert raised.status_code == 200
        assert (await set_status(client, owner, cid, "active")).status_code == 200

    async def test_only_active_campaigns_pause_themselves(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner, total_budget_minor=10)
        response = await post_rows(client, owner, campaign["id"], [row("2026-10-01")])
        assert response.json()["campaign"]["status"] == "draft"

    async def test_currency_is_fixed_once_reports_exist(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner)
        ok = await client.patch(
            f"/api/campaigns/{campaign['id']}", json={"currency": "EUR"}, headers=owner.headers
        )
        assert ok.status_code == 200
        await post_rows(client, owner, campaign["id"], [row("2026-10-01")])
        refused = await client.patch(
            f"/api/campaigns/{campaign['id']}", json={"currency": "BRL"}, headers=owner.headers
        )
        assert assert_problem(refused, 422)["field"] == "currency"


class TestUnits:
    def test_ratio_handles_zero(self) -> None:
        assert ratio(5, 0) is None
        assert ratio(1, 3) == 0.3333

    @pytest.mark.parametrize(
        ("value", "currency", "expected"),
        [
            ("12.34", "USD", (1234, None)),
            ("12", "JPY", (12, None)),
            ("1.005", "KWD", (1005, None)),
            ("1.5", "JPY", (0, "at most 0 decimal places in JPY")),
            (True, "USD", (0, "must be a number")),
            ("NaN", "USD", (0, "must be a non-negative amount")),
            ("abc", "USD", (0, "must be a number")),
            (None, "USD", (0, "required")),
        ],
    )
    def test_to_minor(self, value: object, currency: str, expected: tuple[int, str | None]) -> None:
        assert to_minor(value, currency, required=True) == expected

    def test_decimals(self) -> None:
        assert (decimals("EUR"), decimals("JPY"), decimals("BHD")) == (2, 0, 3)

    async def test_too_many_rows(self) -> None:
        content = "date,impressions,clicks,conversions,spend\n" + "2026-10-01,1,1,1,1\n" * 5001
        with pytest.raises(ReportRejected) as rejected:
            await FileReports(content.encode(), "big.csv").fetch(currency="USD")
        assert rejected.value.problems[0].message == "at most 5000 rows per file"
