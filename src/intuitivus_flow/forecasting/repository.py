"""All SQL over `forecast_models` (instance-wide, like the alert tables)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.forecasting.models import ForecastModel


class ModelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[ForecastModel]:
        rows = await self.session.execute(
            select(ForecastModel).order_by(ForecastModel.signal, ForecastModel.detector)
        )
        return list(rows.scalars())

    async def get(self, model_id: uuid.UUID) -> ForecastModel | None:
        return await self.session.get(ForecastModel, model_id)

    async def for_signal(self, signal: str) -> list[ForecastModel]:
        rows = await self.session.execute(
            select(ForecastModel)
            .where(ForecastModel.signal == signal)
            .order_by(ForecastModel.detector)
        )
        return list(rows.scalars())

    async def add(self, model: ForecastModel) -> ForecastModel:
        self.session.add(model)
        await self.session.flush()
        return model
