"""`intuitivus-flow billing payments|confirm-payment|fail-payment` against the test databases
(SQLite and PostgreSQL): listing, settling, repeats, and one readable line for bad input."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from intuitivus_flow.cli import app as cli_app
from intuitivus_flow.config import get_settings
from tests.billing.helpers import (
    event_names,
    pay_manually,
    pending_invoice_payment,
    subscription_of,
)
from tests.conftest import Database
from tests.helpers import register


async def run_billing(url: str, data_dir: Path, *args: str) -> tuple[int, str, str]:
    """Run the real command line (in a thread: it runs its own event loop)."""
    env = {"FLOW_DATABASE_URL": url, "FLOW_DATA_DIR": str(data_dir), "FLOW_ENV": "test"}

    def invoke() -> Any:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli_app, ["billing", *args], env=env)
        finally:
            get_settings.cache_clear()

    result = await asyncio.to_thread(invoke)
    return result.exit_code, result.stdout, result.stderr


async def billing(database: Database, data_dir: Path, *args: str) -> tuple[int, str, str]:
    return await run_billing(database.url, data_dir, *args)


async def test_list_confirm_and_fail(
    client: httpx.AsyncClient, app: Any, database: Database, data_root: Path
) -> None:
    code, out, _ = await billing(database, data_root, "payments", "--pending")
    assert (code, out.strip()) == (0, "no pending manual payments")

    customer = await register(client, workspace="Shell Customer")
    invoice, payment = await pending_invoice_payment(client, customer)
    extra = await pay_manually(
        client, customer, {"amount_minor": 500, "currency": "EUR", "description": "Setup"}
    )
    code, out, err = await billing(database, data_root, "payments", "--pending")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(payment["id"])  # oldest first
    assert "99.00 USD" in lines[0]
    assert "Shell Customer" in lines[0]
    assert "5.00 EUR" in lines[1]

    code, out, err = await billing(database, data_root, "confirm-payment", payment["id"])
    assert code == 0, err
    assert out.startswith(f"confirmed payment {payment['id']} (99.00 USD, workspace 'Shell")
    assert (await subscription_of(client, customer))["status"] == "active"
    paid = await client.get(f"/api/billing/invoices/{invoice['id']}", headers=customer.headers)
    assert paid.json()["status"] == "paid"
    code, out, _ = await billing(database, data_root, "confirm-payment", payment["id"])
    assert code == 0
    assert "was already confirmed; nothing changed" in out

    code, out, err = await billing(
        database, data_root, "fail-payment", extra["id"], "--reason", "Never arrived"
    )
    assert code == 0, err
    assert out.startswith(f"marked failed payment {extra['id']}")
    code, out, err = await billing(database, data_root, "confirm-payment", extra["id"])
    assert code == 2
    assert out == ""
    assert err.strip() == "error: This payment is already failed; it cannot be changed"

    code, out, _ = await billing(database, data_root, "payments")
    assert out.strip() == "no pending manual payments"
    code, out, _ = await billing(database, data_root, "payments", "--all")
    assert len(out.strip().splitlines()) == 2
    assert "failed" in out
    assert "succeeded" in out
    # The workspace sees the decisions; the shell is named as who made them.
    assert {"payment.confirmed", "payment.marked_failed"} <= set(
        await event_names(client, customer)
    )


async def test_bad_input_is_one_line(
    client: httpx.AsyncClient, app: Any, database: Database, data_root: Path
) -> None:
    customer = await register(client)
    _, payment = await pending_invoice_payment(client, customer)
    for args, message in (
        (("confirm-payment", "12345"), "error: not a payment id: '12345'"),
        (("confirm-payment", str(uuid.uuid4())), "error: Payment not found"),
        (
            ("fail-payment", payment["id"], "--reason", "  "),
            "error: Give a reason of 1 to 500 characters",
        ),
        (
            ("fail-payment", payment["id"]),
            "error: --reason is required: say why the money will not come",
        ),
    ):
        code, out, err = await billing(database, data_root, *args)
        assert (code, out) == (2, ""), args
        assert err.strip() == message
        assert len(err.strip().splitlines()) == 1
    ledger = (await client.get("/api/billing/payments", headers=customer.headers)).json()
    assert ledger["items"][0]["status"] == "pending"


async def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://nobody@127.0.0.1:9/none"
    code, _, err = await run_billing(url, tmp_path, "payments")
    assert code == 2
    assert err.startswith("error: database unavailable")
    assert len(err.strip().splitlines()) == 1
