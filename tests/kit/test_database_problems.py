"""Database errors as problems: only a unique violation is a conflict (409); a NOT NULL,
foreign key or check violation, or a value the column cannot take, is bad input (422).
Real constraint violations on both engines (issue 10, item 17)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from intuitivus_flow.kit.http.problems import install_problem_handlers
from tests.helpers import assert_problem

SCHEMA = (
    "CREATE TABLE problem_parent (id INTEGER PRIMARY KEY)",
    "CREATE TABLE problem_child ("
    " id INTEGER PRIMARY KEY,"
    " parent_id INTEGER REFERENCES problem_parent (id),"
    " name VARCHAR(5) NOT NULL,"
    " quantity INTEGER CHECK (quantity >= 0),"
    " code VARCHAR(10) UNIQUE)",
)
VIOLATIONS = {
    "unique": "INSERT INTO problem_child (id, name, code) VALUES (2, 'b', 'taken')",
    "primary_key": "INSERT INTO problem_child (id, name) VALUES (1, 'b')",
    "not_null": "INSERT INTO problem_child (id, name) VALUES (2, NULL)",
    "foreign_key": "INSERT INTO problem_child (id, name, parent_id) VALUES (2, 'b', 999)",
    "check": "INSERT INTO problem_child (id, name, quantity) VALUES (2, 'b', -1)",
    "still_referenced": "DELETE FROM problem_parent WHERE id = 1",
}


@pytest.fixture
async def database_app(database: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose routes run one statement each against the engine, with the product's
    problem handlers."""
    async with database.engine.begin() as connection:
        for statement in SCHEMA:
            await connection.execute(text(statement))
        await connection.execute(text("INSERT INTO problem_parent (id) VALUES (1)"))
        await connection.execute(
            text(
                "INSERT INTO problem_child (id, parent_id, name, code) VALUES (1, 1, 'a', 'taken')"
            )
        )
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/run/{statement}")
    async def run(statement: str) -> dict[str, Any]:
        async with database.engine.begin() as connection:
            await connection.execute(text(STATEMENTS[statement]))
        return {"ran": statement}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(text("DROP TABLE problem_child"))
            await connection.execute(text("DROP TABLE problem_parent"))


STATEMENTS = {
    **VIOLATIONS,
    "too_long": "INSERT INTO problem_child (id, name) VALUES (3, 'much too long')",
    "bad_cast": "SELECT CAST('not a number' AS INTEGER)",
    "missing_table": "SELECT * FROM no_such_table",
}


@pytest.mark.parametrize("violation", ["unique", "primary_key"])
async def test_a_unique_violation_is_a_conflict(
    database_app: httpx.AsyncClient, violation: str
) -> None:
    assert_problem(await database_app.post(f"/run/{violation}"), 409, "conflict")


@pytest.mark.parametrize(
    ("violation", "detail"),
    [
        ("not_null", "required value is missing"),
        ("foreign_key", "does not exist"),
        ("check", "outside what is allowed"),
        ("still_referenced", "still refers to it"),
    ],
)
async def test_other_integrity_errors_are_bad_input(
    database_app: httpx.AsyncClient, violation: str, detail: str
) -> None:
    body = assert_problem(await database_app.post(f"/run/{violation}"), 422, "invalid-input")
    assert detail in body["detail"]
    assert "problem_child" not in body["detail"]  # names of the schema stay in the log


async def test_a_value_the_column_cannot_take_is_bad_input(
    database: Any, database_app: httpx.AsyncClient
) -> None:
    if database.kind == "sqlite":
        pytest.skip("SQLite stores any length in VARCHAR(5) and casts any text to 0")
    for statement in ("too_long", "bad_cast"):
        body = assert_problem(await database_app.post(f"/run/{statement}"), 422, "invalid-input")
        assert "does not fit" in body["detail"]


async def test_other_database_errors_stay_server_errors(
    database_app: httpx.AsyncClient,
) -> None:
    response = await database_app.post("/run/missing_table")
    assert response.status_code == 500
