from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from intuitivus_flow.billing.models import Licence
from tests.billing.helpers import WEBHOOK_SETTINGS


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(WEBHOOK_SETTINGS)


async def licence_for(app: Any, platform: str, order: str) -> Licence | None:
    async with app.state.context.sessions() as session:
        found: Licence | None = await session.scalar(
            select(Licence).where(Licence.platform == platform, Licence.external_ref == order)
        )
        return found


async def licence_key(app: Any, platform: str, order: str) -> str:
    """The key as the buyer's e-mail would carry it (decrypted from the delivery copy)."""
    licence = await licence_for(app, platform, order)
    assert licence is not None
    assert licence.delivery_ciphertext is not None
    key: str = app.state.context.secrets.decrypt(licence.delivery_ciphertext)
    return key
