"""Background work of billing: e-mailing a licence key to its buyer, once; and the hourly
subscription sweep (past_due, grace-period cancellation, renewal invoices: `billing/sweep.py`).

The key is decrypted from the licence, sent through the configured SMTP server, and then the
encrypted copy is erased, so afterwards only its digest exists. Delivery is at least once (a
worker dying between sending and committing sends it again), which is the right side to err
on for a key somebody paid for.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing.licences.service import DELIVER_LICENCE
from intuitivus_flow.billing.models import Licence, LicenceStatus
from intuitivus_flow.billing.repository import LicenceRepository
from intuitivus_flow.billing.sweep import sweep_subscriptions
from intuitivus_flow.config import Settings
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.worker import PermanentJobError
from intuitivus_flow.kit.crypto import SecretBox, SecretBoxError
from intuitivus_flow.kit.mail import Mail, MailError, mail_sender
from intuitivus_flow.kit.models import utcnow

SWEEP_SUBSCRIPTIONS = "billing.sweep_subscriptions"
SWEEP_INTERVAL = timedelta(hours=1)

TASKS = TaskList("billing")


@TASKS.task(DELIVER_LICENCE)
async def deliver_licence(job: JobContext) -> dict[str, str]:
    return await deliver(job.session, job.job, settings=job.settings, box=job.secrets)


@TASKS.periodic(SWEEP_SUBSCRIPTIONS, every=SWEEP_INTERVAL)
async def sweep(job: JobContext) -> dict[str, Any]:
    grace = timedelta(days=job.settings.billing_grace_days)
    # "Everything due as of now", not as of the slot: a retried job catches up too.
    return (await sweep_subscriptions(job.session, job.now(), grace=grace)).as_dict()


async def deliver(
    session: AsyncSession, job: Job, *, settings: Settings, box: SecretBox
) -> dict[str, str]:
    licence = await LicenceRepository(session).get(uuid.UUID(str(job.payload["licence_id"])))
    if licence is None or licence.delivery_ciphertext is None:
        return {"status": "nothing to deliver"}
    if licence.status == LicenceStatus.revoked.value:
        licence.delivery_ciphertext = None
        return {"status": "revoked"}
    if not licence.buyer_email:
        raise PermanentJobError("the purchase named no buyer e-mail")
    sender = mail_sender(settings)
    if sender is None:
        raise PermanentJobError("FLOW_SMTP_HOST is not set; licence e-mails cannot be sent")
    try:
        key = box.decrypt(licence.delivery_ciphertext)
    except SecretBoxError as exc:
        raise PermanentJobError(str(exc)) from None
    try:
        await sender.send(licence_email(licence, key, settings=settings))
    except MailError as exc:
        # Retried by the worker; the reason names the server's answer, never the key.
        raise RuntimeError(f"the licence e-mail was not accepted: {exc}") from None
    licence.delivery_ciphertext, licence.delivered_at = None, utcnow()
    return {"status": "delivered"}


def licence_email(licence: Licence, key: str, *, settings: Settings) -> Mail:
    return Mail(
        to=licence.buyer_email or "",
        subject="Your Intuitivus Flow licence key",
        text=(
            "Thank you for your purchase.\n\n"
            f"Your licence key ({licence.plan} plan):\n\n    {key}\n\n"
            f"Use it when you sign up at {settings.public_url}/signup, or redeem it under "
            "Billing in an existing workspace. Keep it safe: we do not store it and cannot show "
            "it again.\n"
        ),
    )
