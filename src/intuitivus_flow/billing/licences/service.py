"""Licences: issued by purchase webhooks, revoked by refunds and chargebacks, redeemed once.

A key is 120 random bits, shown to nobody but the buyer: it is stored as a SHA-256 digest
(plus its last four characters as a hint), and an encrypted copy lives on the licence only
until the delivery e-mail has been sent (`billing/tasks.py`).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.exceptions import InvalidLicence
from intuitivus_flow.billing.licences import webhooks
from intuitivus_flow.billing.licences.webhooks import (
    EventKind,
    Platform,
    PlatformEvent,
    WebhookSecrets,
)
from intuitivus_flow.billing.models import Licence, LicenceStatus, SubscriptionStatus
from intuitivus_flow.billing.plans import PlanId
from intuitivus_flow.billing.repository import (
    LicenceRepository,
    SubscriptionRepository,
    WebhookEventRepository,
)
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.kit.crypto import SecretBox
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page
from intuitivus_flow.kit.security import digest
from intuitivus_flow.observability.metrics import get_metrics

KEY_PREFIX = "IFL"
DELIVER_LICENCE = "billing.deliver_licence"
# What a purchase buys when the platform's product or plan name names no plan.
DEFAULT_LICENCE_PLAN = PlanId.pro


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    status: str  # processed | duplicate | ignored
    event_id: str
    result: str  # issued, revoked, already_issued, ... (kept on the event row)


def new_licence_key() -> str:
    raw = base64.b32encode(secrets.token_bytes(15)).decode()  # 24 characters, 120 bits
    return "-".join([KEY_PREFIX, *(raw[i : i + 4] for i in range(0, len(raw), 4))])


def normalise_key(key: str) -> str:
    """Keys are typed by people: ignore case, spaces and where the dashes went."""
    compact = "".join(char for char in key.upper() if char.isalnum())
    if compact.startswith(KEY_PREFIX):
        compact = compact[len(KEY_PREFIX) :]
    return "-".join([KEY_PREFIX, *(compact[i : i + 4] for i in range(0, len(compact), 4))])


# --- webhooks -----------------------------------------------------------------------------


async def receive_webhook(
    session: AsyncSession,
    *,
    platform: Platform,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    secrets_: WebhookSecrets,
    box: SecretBox,
) -> WebhookOutcome:
    """Verify, then apply a platform event exactly once (a redelivery changes nothing)."""
    webhooks.verify(platform, body=body, headers=headers, query=query, secrets=secrets_)
    event = webhooks.read_event(platform, body)
    repository = WebhookEventRepository(session)
    row_id = await repository.claim(platform.value, event.event_id, event.event_type)
    deliveries = get_metrics().webhook_deliveries_total
    if row_id is None:
        deliveries.labels(source=platform.value, outcome="duplicate").inc()
        return WebhookOutcome("duplicate", event.event_id, "duplicate")
    deliveries.labels(source=platform.value, outcome="processed").inc()
    result, licence = await _apply(session, event, box)
    row = await repository.get_or_raise(row_id)
    row.outcome, row.licence_id = result, licence.id if licence else None
    status = "processed" if licence is not None else "ignored"
    return WebhookOutcome(status, event.event_id, result)


async def _apply(
    session: AsyncSession, event: PlatformEvent, box: SecretBox
) -> tuple[str, Licence | None]:
    if event.kind is EventKind.other or event.order_ref is None:
        return "ignored", None
    licences = LicenceRepository(session)
    existing = await licences.by_ref(event.platform.value, event.order_ref)
    if event.kind is EventKind.purchase:
        if existing is not None:  # e.g. Hotmart's APPROVED then COMPLETE for one order
            return "already_issued", existing
        issued = await _issue(session, event, event.order_ref, box)
        if issued is not None:
            return "issued", issued
        # Another event for this order issued its licence while this one was on its way.
        return "already_issued", await licences.by_ref(event.platform.value, event.order_ref)
    if existing is None:
        return "unknown_order", None
    if existing.status == LicenceStatus.revoked:
        return "already_revoked", existing
    await _revoke(session, existing, reason=event.kind.value)
    return "revoked", existing


async def _issue(
    session: AsyncSession, event: PlatformEvent, order_ref: str, box: SecretBox
) -> Licence | None:
    """The order's new licence, queued for delivery; None when a concurrent event for the
    same order issued it first (one licence per order, and no 409 for a valid event)."""
    key = new_licence_key()
    licence = await LicenceRepository(session).add_unless_taken(
        Licence(
            key_hash=digest(key),
            key_hint=key[-4:],
            platform=event.platform.value,
            external_ref=order_ref,
            buyer_email=event.buyer_email,
            plan=(event.plan or DEFAULT_LICENCE_PLAN).value,
            delivery_ciphertext=box.encrypt(key),
        ),
        unique=("platform", "external_ref"),
    )
    if licence is None:
        return None
    await jobs.enqueue(
        session,
        kind=DELIVER_LICENCE,
        payload={"licence_id": str(licence.id)},
        dedupe_key=f"licence-delivery:{licence.id}",
        max_attempts=8,
    )
    return licence


async def _revoke(session: AsyncSession, licence: Licence, *, reason: str) -> None:
    licence.status, licence.revoked_at = LicenceStatus.revoked, utcnow()
    licence.revoke_reason, licence.delivery_ciphertext = reason, None
    workspace_id = licence.redeemed_workspace_id
    if workspace_id is None:
        return
    subscription = await SubscriptionRepository(session, workspace_id).current()
    if subscription is not None and subscription.licence_id == licence.id:
        # The money went back, so the plan it paid for ends now.
        await billing.transition(
            session, subscription, SubscriptionStatus.canceled, reason=f"licence_{reason}"
        )
    await events.record(
        session,
        workspace_id=workspace_id,
        name=catalog.LICENCE_REVOKED,
        properties={"licence_id": str(licence.id), "reason": reason},
    )


# --- redemption ---------------------------------------------------------------------------


async def redeem(session: AsyncSession, principal: Principal, *, key: str) -> Licence:
    """An owner or admin applies a licence to their workspace: its plan becomes active."""
    billing.require_billing_manager(principal)
    return await _redeem(session, key, principal.workspace_id, principal.user_id)


async def consume_for_signup(
    session: AsyncSession,
    *,
    key: str | None,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    required: bool,
) -> None:
    """Sign-up's hook: with `required`, no valid unused key means no account (the caller's
    transaction rolls back); a key given when not required is redeemed all the same."""
    if not key or not key.strip():
        if required:
            raise InvalidLicence("A licence key is required to sign up", field="licence_key")
        return
    await _redeem(session, key, workspace_id, user_id)


async def _redeem(
    session: AsyncSession, key: str, workspace_id: uuid.UUID, user_id: uuid.UUID | None
) -> Licence:
    licences = LicenceRepository(session)
    licence = await licences.by_key_hash(digest(normalise_key(key)))
    if licence is None:
        raise InvalidLicence("This licence key is not valid", field="licence_key")
    if licence.status == LicenceStatus.revoked:
        raise InvalidLicence("This licence was revoked", field="licence_key")
    # Conditional update: of two redemptions racing for one key, exactly one wins.
    if not await licences.claim_for(licence.id, workspace_id, utcnow()):
        raise InvalidLicence("This licence key was already used", field="licence_key")
    await session.refresh(licence)
    await billing.activate_with_plan(session, workspace_id, licence.plan, licence_id=licence.id)
    await events.record(
        session,
        workspace_id=workspace_id,
        user_id=user_id,
        name=catalog.LICENCE_REDEEMED,
        properties={"licence_id": str(licence.id), "plan": licence.plan},
    )
    return licence


async def list_my_licences(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> Page[Licence]:
    billing.require_billing_reader(principal)
    repository = LicenceRepository(session)
    return await repository.paginate(
        repository.redeemed_by(principal.workspace_id), limit=limit, offset=offset
    )
