"""Pages of list results: what a repository returns and what a list endpoint answers.

`Page` is the repository's result (ORM rows, any item type); `PaginatedResponse[ItemRead]` is
the one response body every list endpoint answers with, so all of them share one JSON shape:
`{"items": [...], "total": n, "limit": l, "offset": o}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

MAX_PAGE_SIZE = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int


class PaginatedResponse(BaseModel, Generic[T]):
    """One page of a list endpoint; validates straight from a `Page` of ORM rows.

    Each domain names its pages by subclassing (`class ContactPage(PaginatedResponse[ContactRead])`)
    so the OpenAPI document keeps short schema names instead of `PaginatedResponse_ContactRead_`.
    """

    model_config = ConfigDict(from_attributes=True)

    items: list[T]
    total: int = Field(description="Rows matching the query, across all pages.")
    limit: int = Field(description="Largest number of items on this page.")
    offset: int = Field(description="Rows skipped before this page's first item.")
