from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from intuitivus_flow.contacts.models import ConsentChannel, ConsentSource, OptIn
from intuitivus_flow.kit.pagination import PaginatedResponse

MAX_TAGS = 50
MAX_ATTRIBUTES_KEYS = 100
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9_:\-]{0,63}$")
# People paste numbers with spaces, dashes, dots and brackets; those carry no meaning.
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


def normalize_phone(value: str) -> str:
    """E.164 (`+` and 7 to 15 digits) from a pasted number; `00` is read as `+`."""
    phone = _PHONE_PUNCTUATION.sub("", value)
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    if not _E164.match(phone):
        raise ValueError("use the international E.164 format, e.g. +5511987654321")
    return phone


def normalize_tags(values: list[str]) -> list[str]:
    tags = sorted({value.strip().lower() for value in values if value.strip()})
    for tag in tags:
        if not _TAG.match(tag):
            raise ValueError(
                f"tag {tag[:64]!r}: letters, digits, '_', ':' or '-', at most 64 characters"
            )
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return tags


def _small_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_ATTRIBUTES_KEYS:
        raise ValueError(f"at most {MAX_ATTRIBUTES_KEYS} attributes")
    return value


Phone = Annotated[
    str, Field(max_length=32, examples=["+5511987654321"]), AfterValidator(normalize_phone)
]
Tags = Annotated[list[str], Field(max_length=MAX_TAGS * 2), AfterValidator(normalize_tags)]
Attributes = Annotated[dict[str, Any], AfterValidator(_small_attributes)]


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    phone: Phone | None = None
    email: EmailStr | None = None
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)
    opt_in: OptIn = Field(default=OptIn.unknown, description="WhatsApp consent.")
    email_opt_in: OptIn = Field(default=OptIn.unknown, description="E-mail consent.")


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    phone: Phone | None = None
    email: EmailStr | None = None
    tags: Tags | None = None
    attributes: Attributes | None = None
    opt_in: OptIn | None = Field(
        default=None,
        description="WhatsApp consent; to give the reason, use `POST /api/contacts/{id}/consent`.",
    )
    email_opt_in: OptIn | None = Field(default=None, description="E-mail consent.")


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    tags: list[str]
    attributes: dict[str, Any]
    opt_in: OptIn = Field(description="WhatsApp consent.")
    opt_in_changed_at: datetime | None
    email_opt_in: OptIn = Field(description="E-mail consent.")
    email_opt_in_changed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ContactPage(PaginatedResponse[ContactRead]):
    pass


class ConsentChange(BaseModel):
    """A person's or a client's consent decision for one channel, with why."""

    model_config = ConfigDict(extra="forbid")

    channel: ConsentChannel
    state: Literal[OptIn.opted_in, OptIn.opted_out]
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why, as the audit trail shows it (e.g. 'asked by phone to stop').",
        examples=["Signed up on the website form"],
    )


class ConsentChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: ConsentChannel
    previous: OptIn
    state: OptIn
    reason: str
    source: ConsentSource
    actor: str = Field(description="`user:<id>`, `api_key:<id>` or `system`.")
    created_at: datetime


class ConsentHistoryPage(PaginatedResponse[ConsentChangeRead]):
    pass


class ImportProblem(BaseModel):
    row: int = Field(description="Line of the file (the header is row 1).")
    column: str | None = Field(description="The header as written, or none for the whole row.")
    message: str


class ImportRow(BaseModel):
    row: int
    action: Literal["create", "update", "unchanged"]
    contact_id: uuid.UUID | None = Field(description="The existing contact an update changes.")
    changes: list[str] = Field(description="Fields that are set or changed.")


class ImportReport(BaseModel):
    """What an import did, or (dry run) would do."""

    dry_run: bool
    valid: bool = Field(description="False when a row has errors; a real run then writes nothing.")
    rows: int = Field(description="Data rows read (blank lines skipped).")
    created: int
    updated: int
    unchanged: int
    columns: dict[str, str] = Field(description="Each header of the file and what it maps to.")
    errors: list[ImportProblem] = Field(description="The first 1000 problems.")
    errors_total: int
    warnings: list[ImportProblem] = Field(
        description="Rows imported with a change left out (the first 1000)."
    )
    preview: list[ImportRow] = Field(description="The first 200 rows' outcome.")
