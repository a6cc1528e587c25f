from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin


class Workspace(IdMixin, TimestampMixin, Base):
    """A tenant: everything a customer owns hangs off one workspace."""

    __tablename__ = "workspaces"

    name: Mapped[str] = mapped_column(String(120))
