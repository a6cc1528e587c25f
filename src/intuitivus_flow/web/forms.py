"""Form input -> validated schema, and every failure -> messages next to the right fields.

The JSON API and the pages validate with the same pydantic schemas, so a rule lives in one place.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.kit.errors import FlowError, NotFound, TooManyRequests

if TYPE_CHECKING:
    from intuitivus_flow.web.auth import Viewer

SchemaT = TypeVar("SchemaT", bound=BaseModel)
ResultT = TypeVar("ResultT")

# Longest value echoed back into a re-rendered form; the schemas cap real fields far lower.
MAX_ECHO_LENGTH = 320


@dataclass(slots=True)
class FormState:
    """What a form shows: the values to refill, field errors, and one message for the form."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    status_code: int = 200
    retry_after: int | None = None  # seconds, when the failure was a throttle

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.message)


class FormInvalid(Exception):
    def __init__(self, state: FormState) -> None:
        super().__init__("form input did not validate")
        self.state = state


async def read_fields(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """The named text fields of the posted form (missing ones are empty; files are ignored)."""
    form = await request.form()
    values: dict[str, str] = {}
    for name in names:
        value = form.get(name)
        values[name] = value if isinstance(value, str) else ""
    return values


async def read_list(request: Request, name: str) -> list[str]:
    form = await request.form()
    return [value for value in form.getlist(name) if isinstance(value, str)]


def echo(values: dict[str, str], *, secret: tuple[str, ...] = ("password",)) -> dict[str, str]:
    """Values safe to put back into the form: never passwords, never huge strings."""
    return {name: value[:MAX_ECHO_LENGTH] for name, value in values.items() if name not in secret}


def validate(schema: type[SchemaT], data: dict[str, object], values: dict[str, str]) -> SchemaT:
    """Validate `data` with the schema; raise `FormInvalid` with one message per field."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors(include_input=False, include_url=False):
            name = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(name, readable_message(error["msg"]))
        raise FormInvalid(FormState(values=echo(values), errors=errors, status_code=422)) from exc


def readable_message(message: str) -> str:
    # pydantic says "Value error, ..." for custom validators; the prefix means nothing to people.
    return message.removeprefix("Value error, ")


def state_from_error(error: FlowError, values: dict[str, str]) -> FormState:
    """A domain error as the form shows it: next to its field when the service named one."""
    state = FormState(values=echo(values), status_code=error.status_code)
    field_name = error.extra.get("field")
    if isinstance(error, TooManyRequests):
        state.retry_after = error.retry_after
        state.message = f"{error.detail}. Please wait {error.retry_after} seconds and try again."
    elif isinstance(field_name, str) and field_name in values:
        state.errors[field_name] = error.detail
    else:
        state.message = error.detail
    return state


async def discard_failed_work(session: AsyncSession, error: FlowError, *reload: object) -> None:
    """The page is re-rendered instead of raising, so undo what the failed action wrote.

    (Raising would let the unit of work do this; catching means we must.) Errors that are
    business decisions themselves (`keeps_work`) are committed, as the unit of work would.
    A rollback expires every loaded row; `reload` the ones the page will still read (the
    viewer's user and workspace in the layout).
    """
    if error.keeps_work:
        await session.commit()
    else:
        await session.rollback()
    for row in reload:
        await session.refresh(row)


async def form_action(
    session: AsyncSession,
    viewer: Viewer,
    values: dict[str, str],
    action: Callable[[], Awaitable[ResultT]],
    *,
    secret: tuple[str, ...] = ("password",),
) -> ResultT:
    """Run a page's action; every failure becomes `FormInvalid`, with its writes undone.

    The one sequence every form handler needs: validation errors pass through, a domain error
    is shown next to its field (or as the form's message) after `discard_failed_work`. The
    handler then has a single `except FormInvalid` that re-renders its page.
    """
    try:
        return await action()
    except FormInvalid as invalid:
        for name in secret:
            invalid.state.values.pop(name, None)
        raise
    except FlowError as error:
        await discard_failed_work(session, error, viewer.user, viewer.workspace)
        state = state_from_error(error, echo(values, secret=secret))
        raise FormInvalid(state) from error


@dataclass(slots=True)
class PageState:
    """A page with several forms: which one failed, and the banner above them."""

    forms: dict[str, FormState] = field(default_factory=dict)
    alert: str | None = None
    notice: str | None = None
    status_code: int = 200

    def form(self, name: str) -> FormState:
        return self.forms.get(name) or FormState()

    @classmethod
    def failed(cls, form: str, state: FormState) -> PageState:
        alert = state.message or "Please correct the highlighted fields."
        return cls(forms={form: state}, alert=alert, status_code=state.status_code)

    @classmethod
    def alerting(cls, state: FormState) -> PageState:
        """A failed button (no fields of its own): the message goes in the banner."""
        first_error = next(iter(state.errors.values()), None)
        alert = state.message or first_error or "That did not work."
        return cls(alert=alert, status_code=state.status_code)


def parse_id(raw: str, what: str) -> uuid.UUID:
    """An id from the URL; a malformed one is simply a page that does not exist."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"{what} not found") from None
