"""FastAPI dependencies shared by every router: resources, unit of work, paging, client address.

Who the caller is (the request principal) is the auth layer's: `auth/deps.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.kit.db import LazyUnitOfWork, lazy_unit_of_work
from intuitivus_flow.kit.repository import MAX_PAGE_SIZE
from intuitivus_flow.kit.resources import Resources


async def get_context(request: Request) -> Resources:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop on every request.
    # The app's context (intuitivus_flow/context.py) extends Resources; routes need only these.
    context: Resources = request.app.state.context
    return context


Context = Annotated[Resources, Depends(get_context)]


async def get_work(request: Request) -> AsyncIterator[LazyUnitOfWork]:
    """The request is the unit of work: commit when the handler returns, roll back if it
    raises. Its session is constructed when something first uses it, so a request answered
    from caches (the principal's, the views') opens none."""
    # The context straight from the request, not through `Context`: FastAPI walks a
    # dependency's sub-dependencies every time it is named, and every authenticated route
    # names the work (through the principal too), so a sub-dependency here was paid several
    # times a request.
    context: Resources = request.app.state.context
    async with lazy_unit_of_work(context.sessions) as work:
        yield work


# scope="function": the commit happens before the response is sent, so a failed commit is
# reported to the client instead of being lost after a 200.
Work = Annotated[LazyUnitOfWork, Depends(get_work, scope="function")]


async def get_session(work: Work) -> AsyncSession:
    """The request's session, for routes that query: the same one the principal used."""
    return work.session


DbSession = Annotated[AsyncSession, Depends(get_session)]


async def client_address(request: Request, context: Context) -> str:
    """The caller's address, from X-Forwarded-For only when we sit behind a trusted proxy."""
    if context.settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first[:64]
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]


class Pagination:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


Paging = Annotated[Pagination, Depends()]
