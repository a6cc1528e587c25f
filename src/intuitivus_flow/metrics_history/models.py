"""The `metrics` time series: one row per (signal, instant, instance).

On PostgreSQL the table is RANGE-partitioned by month on `time` (the migration and
`partitions.py` manage the partitions); the primary key therefore contains `time`, as
PostgreSQL requires for a partitioned table. The key order (name, time, instance) makes the one
query that matters, "a signal over a time range", an index range scan.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base

METRICS_TABLE = "metrics"


class MetricSample(Base):
    __tablename__ = METRICS_TABLE
    # SQLAlchemy renders PARTITION BY on PostgreSQL and ignores it on SQLite.
    __table_args__ = {"postgresql_partition_by": "RANGE (time)"}

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    time: Mapped[datetime] = mapped_column(primary_key=True)
    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
