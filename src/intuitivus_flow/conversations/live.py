"""Live inbox: conversation changes pushed to the people looking at them (server-sent events).

What changed is noted at flush time from the rows themselves (a message stored or its status
moved, a conversation taken over, assigned, closed...), whoever wrote them: a web request, the
WhatsApp webhook, the reply job on a worker. Once the unit of work commits, the changes are
published: through Redis pub/sub when Redis is configured, so a stream held by one web worker
hears what another worker or the job worker wrote; in the process otherwise (the embedded
default: one process serves and runs jobs).

Only ids travel (workspace, conversation, what kind of change): the page asks for what it shows
through its usual, authenticated routes, so a stream can never carry more than its member may
read, and message text never sits in Redis.

Bounds: each stream has a queue of `QUEUE_SIZE` events (a stream that falls behind is told to
reload rather than growing), a heartbeat, a maximum lifetime after which the browser reconnects
(and is authenticated again), and at most `MAX_STREAMS_PER_MEMBER` streams per member across
every worker (slots in Redis, refreshed by the heartbeat, so a crashed worker's slots expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from intuitivus_flow.conversations.models import Conversation, Message
from intuitivus_flow.kit.errors import TooManyRequests
from intuitivus_flow.kit.redis_outage import REDIS_ERRORS

logger = logging.getLogger(__name__)

CHANGES_KEY = "inbox_live_changes"
CHANNEL_PREFIX = "flow:inbox:"
SLOTS_PREFIX = "flow:inbox-streams:"
QUEUE_SIZE = 100
HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 300.0
MAX_STREAMS_PER_MEMBER = 5
# A slot not refreshed for this long belongs to a stream that died with its worker.
SLOT_SECONDS = 3 * HEARTBEAT_SECONDS
RETRY_AFTER_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Change:
    """One conversation changed: `kind` is "message" (a message came, went or moved status) or
    "conversation" (its state, assignee or attention changed)."""

    workspace_id: uuid.UUID
    conversation_id: uuid.UUID
    kind: str

    def encode(self) -> str:
        return json.dumps(
            {"w": str(self.workspace_id), "c": str(self.conversation_id), "k": self.kind}
        )

    @classmethod
    def decode(cls, raw: str | bytes) -> Change | None:
        try:
            data = json.loads(raw)
            return cls(uuid.UUID(data["w"]), uuid.UUID(data["c"]), str(data["k"]))
        except (ValueError, KeyError, TypeError):
            return None

    def client_data(self) -> str:
        """What the browser gets: no workspace id (the stream is its workspace's already)."""
        return json.dumps({"conversation": str(self.conversation_id), "kind": self.kind})


RESET = "reset"  # a stream that missed events: the page reloads its panes


@dataclass(eq=False)
class Subscription:
    workspace_id: uuid.UUID
    member_id: uuid.UUID
    slot: str
    queue: asyncio.Queue[Change | str] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )

    def offer(self, item: Change | str) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # Fell behind: drop what is queued and tell the page to reload its panes once.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESET)

    async def next(self, wait_seconds: float) -> Change | str | None:
        """The next change, or None after `wait_seconds` without one (time for a heartbeat)."""
        try:
            async with asyncio.timeout(wait_seconds):
                return await self.queue.get()
        except TimeoutError:
            return None


class LiveHub:
    """The streams of this process, by workspace, and the way changes reach them."""

    def __init__(
        self,
        redis: Redis | None,
        *,
        max_streams_per_member: int = MAX_STREAMS_PER_MEMBER,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        max_stream_seconds: float = MAX_STREAM_SECONDS,
    ) -> None:
        self.redis = redis
        self.max_streams_per_member = max_streams_per_member
        self.heartbeat_seconds = heartbeat_seconds
        self.max_stream_seconds = max_stream_seconds
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = defaultdict(set)
        self._local_slots: dict[uuid.UUID, int] = defaultdict(int)
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    # --- publishing ---------------------------------------------------------------------

    async def publish(self, changes: Iterable[Change]) -> None:
        """Send committed changes to every stream of their workspace, on every worker. A
        Redis failure loses these notifications only (pages still show the truth on reload);
        it never fails the work that was committed."""
        changes = list(changes)
        if not changes:
            return
        if self.redis is None:
            for change in changes:
                self.deliver(change)
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for change in changes:
                    pipe.publish(f"{CHANNEL_PREFIX}{change.workspace_id}", change.encode())
                await pipe.execute()
        except REDIS_ERRORS as error:
            logger.warning("live inbox: could not publish %d changes: %s", len(changes), error)

    async def publish_after_commit(self, info: dict[str, Any]) -> None:
        """The unit of work's commit hook: publish what its flushes noted."""
        noted: set[Change] = info.pop(CHANGES_KEY, set())
        await self.publish(sorted(noted, key=lambda change: str(change.conversation_id)))

    def deliver(self, change: Change) -> None:
        """Hand a change to this process's streams of its workspace (and no other)."""
        for subscription in tuple(self._subscriptions.get(change.workspace_id, ())):
            subscription.offer(change)

    # --- streams ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(
        self, workspace_id: uuid.UUID, member_id: uuid.UUID
    ) -> AsyncIterator[Subscription]:
        """A stream of the workspace's changes for one member, within the member's cap
        (`TooManyRequests`, 429, over it). Leaving the block frees its slot and queue."""
        slot = await self._take_slot(member_id)
        subscription = Subscription(workspace_id, member_id, slot)
        self._subscriptions[workspace_id].add(subscription)
        try:
            if self.redis is not None:
                await self._ensure_listener()
            yield subscription
        finally:
            streams = self._subscriptions.get(workspace_id)
            if streams is not None:
                streams.discard(subscription)
                if not streams:
                    del self._subscriptions[workspace_id]
            await self._free_slot(member_id, slot)
            if not self._subscriptions:
                await self._stop_listener()

    async def keep_slot(self, subscription: Subscription) -> None:
        """The heartbeat's refresh: a live stream's slot does not expire."""
        if self.redis is None or subscription.slot.startswith("local:"):
            return
        with contextlib.suppress(*REDIS_ERRORS):
            await self.redis.zadd(
                f"{SLOTS_PREFIX}{subscription.member_id}", {subscription.slot: time.time()}
            )

    @property
    def stream_count(self) -> int:
        return sum(len(streams) for streams in self._subscriptions.values())

    async def _take_slot(self, member_id: uuid.UUID) -> str:
        slot = uuid.uuid4().hex
        if self.redis is not None:
            try:
                return await self._take_redis_slot(member_id, slot)
            except REDIS_ERRORS:
                pass  # Redis away: this process's own count still bounds the member
        # No await between the check and the increment: one event loop, no race.
        if self._local_slots[member_id] >= self.max_streams_per_member:
            raise _too_many(self.max_streams_per_member)
        self._local_slots[member_id] += 1
        return f"local:{slot}"

    async def _take_redis_slot(self, member_id: uuid.UUID, slot: str) -> str:
        """Add first, then count, in one transaction: parallel streams of one member on
        several workers can all be refused at the cap, never all admitted past it."""
        key, now = f"{SLOTS_PREFIX}{member_id}", time.time()
        async with self.redis.pipeline(transaction=True) as pipe:  # type: ignore[union-attr]
            pipe.zremrangebyscore(key, 0, now - SLOT_SECONDS)
            pipe.zadd(key, {slot: now})
            pipe.zcard(key)
            pipe.expire(key, int(SLOT_SECONDS) + 1)
            _, _, taken, _ = await pipe.execute()
        if taken > self.max_streams_per_member:
            await self.redis.zrem(key, slot)  # type: ignore[union-attr]
            raise _too_many(self.max_streams_per_member)
        return slot

    async def _free_slot(self, member_id: uuid.UUID, slot: str) -> None:
        if slot.startswith("local:"):
            self._local_slots[member_id] -= 1
            if self._local_slots[member_id] <= 0:
                del self._local_slots[member_id]
            return
        if self.redis is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                await self.redis.zrem(f"{SLOTS_PREFIX}{member_id}", slot)

    # --- the Redis listener (one per process, while it has streams) ----------------------

    async def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listening.clear()
            self._listener = asyncio.create_task(self._listen(), name="live-inbox-listener")
        # Subscribed before the stream starts: nothing published after this is missed.
        waiter = asyncio.ensure_future(self._listening.wait())
        done, _ = await asyncio.wait({waiter, self._listener}, return_when="FIRST_COMPLETED")
        if waiter not in done:  # the listener ended at once: Redis refused the subscription
            waiter.cancel()
            raise TooManyRequests(
                "Live updates are unavailable right now; the page still works on reload",
                retry_after=int(RETRY_AFTER_SECONDS),
            )

    async def _listen(self) -> None:
        assert self.redis is not None
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
            self._listening.set()
            while True:
                message = await pubsub.get_message(timeout=self.heartbeat_seconds)
                if message is None or message.get("type") != "pmessage":
                    continue
                change = Change.decode(message["data"])
                if change is not None:
                    self.deliver(change)
        except REDIS_ERRORS as error:
            # The streams end and the browsers reconnect, which starts a new listener.
            logger.warning("live inbox: Redis subscription lost: %s", error)
            for streams in self._subscriptions.values():
                for subscription in streams:
                    subscription.offer(_CLOSED)
        finally:
            with contextlib.suppress(*REDIS_ERRORS):
                await pubsub.aclose()

    async def _stop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.done():
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def close(self) -> None:
        await self._stop_listener()


_CLOSED = "closed"  # the stream must end (its source of changes is gone)


def _too_many(cap: int) -> TooManyRequests:
    return TooManyRequests(
        f"At most {cap} live inbox streams per member; close another inbox tab",
        retry_after=int(SLOT_SECONDS),
    )


async def stream_events(hub: LiveHub, subscription: Subscription) -> AsyncIterator[str]:
    """The text/event-stream body: a retry hint, then changes as `message` and `conversation`
    events, a comment line as heartbeat, until the stream's lifetime ends."""
    yield f"retry: {int(hub.heartbeat_seconds * 1000 // 3) or 1000}\n\n"
    deadline = time.monotonic() + hub.max_stream_seconds
    while (left := deadline - time.monotonic()) > 0:
        item = await subscription.next(min(hub.heartbeat_seconds, left))
        if item is None:
            await hub.keep_slot(subscription)
            yield ": heartbeat\n\n"
        elif item == _CLOSED:
            return
        elif isinstance(item, str):
            yield f"event: {item}\ndata: {{}}\n\n"
        else:
            yield f"event: {item.kind}\ndata: {item.client_data()}\n\n"
    yield "event: reconnect\ndata: {}\n\n"


# --- what changed, noted at flush time ----------------------------------------------------


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _: object) -> None:
    noted: set[Change] | None = None
    for row in (*session.new, *session.dirty):
        change = _change_of(row, new=row in session.new)
        if change is not None:
            noted = noted if noted is not None else session.info.setdefault(CHANGES_KEY, set())
            noted.add(change)


@event.listens_for(Session, "after_rollback")
def _forget_changes(session: Session) -> None:
    session.info.pop(CHANGES_KEY, None)


def _change_of(row: object, *, new: bool) -> Change | None:
    if not (new or _modified(row)):
        return None
    if isinstance(row, Message) and row.workspace_id and row.conversation_id:
        return Change(row.workspace_id, row.conversation_id, "message")
    if isinstance(row, Conversation) and row.workspace_id and row.id:
        return Change(row.workspace_id, row.id, "conversation")
    return None


def _modified(row: object) -> bool:
    # Dirty can mean "touched, same value" (the contact lock's no-op UPDATE is not one of
    # these rows, but ORM sets of an equal value are): only real changes are news.
    return any(attribute.history.has_changes() for attribute in inspect(row).attrs)
