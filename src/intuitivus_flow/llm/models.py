from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin, utcnow


class ProviderKey(IdMixin, TimestampMixin, Base):
    """A workspace's own LLM credential ("bring your own key"), encrypted at rest."""

    __tablename__ = "llm_provider_keys"
    __table_args__ = (
        Index("ix_llm_provider_keys_workspace_id_priority", "workspace_id", "priority"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(120))
    base_url: Mapped[str | None] = mapped_column(String(500), default=None)
    default_model: Mapped[str] = mapped_column(String(120))
    encrypted_key: Mapped[str] = mapped_column(String(2000))
    key_hint: Mapped[str] = mapped_column(
        String(16)
    )  # last characters, for people to tell keys apart
    priority: Mapped[int] = mapped_column(Integer, default=100)  # lower runs first
    monthly_token_limit: Mapped[int | None] = mapped_column(BigInteger, default=None)
    monthly_cost_limit_micros: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The key's own price in micro-USD per million tokens (both or neither): for models the
    # list prices do not know, self-hosted ones, or negotiated prices (llm/pricing.py).
    prompt_micros_per_million: Mapped[int | None] = mapped_column(Integer, default=None)
    completion_micros_per_million: Mapped[int | None] = mapped_column(Integer, default=None)
    active: Mapped[bool] = mapped_column(default=True)


class LlmUsage(IdMixin, Base):
    """One provider call (successful or not): what it cost and how long it took."""

    __tablename__ = "llm_usage"
    __table_args__ = (
        Index("ix_llm_usage_workspace_id_created_at", "workspace_id", "created_at"),
        Index("ix_llm_usage_key_id_created_at", "key_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("llm_provider_keys.id", ondelete="SET NULL"), default=None
    )
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(120))
    outcome: Mapped[str] = mapped_column(String(40))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
