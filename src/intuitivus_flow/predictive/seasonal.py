"""Seasonal breach forecasts: trend + daily/weekly season, calibrated band, first crossing.

The straight line of `forecast.py` reads a daily swing as slope: on the rising half of the
day it predicts a breach that the evening takes back (issue 16 measured thousands of false
predictions on a flat series near its threshold). This model separates the two:

* **Season** (``fit_season``, run by the trainer on the whole history): a robust least-squares
  fit of ``piecewise-linear trend (a knot per day) + daily Fourier terms (+ weekly ones once
  two weeks of history exist)``. The Fourier terms are anchored to the epoch, so the season is
  a function of the clock and is evaluated at any future moment; the piecewise trend only
  soaks up slow level changes so they do not leak into the season.
* **Trend** (at every evaluation): a robust straight line through the last ``trend_window`` of
  *deseasonalised* values. Recent, so a new slope shows within hours; long enough (12 h by
  default) that noise does not tilt it.
* **Band**: a parametric spread (residual noise and the slope's standard error growing with
  the horizon) rescaled by quantiles of the model's own standardised forecast errors, measured
  by the trainer on held-back stretches of the history (a rolling-origin backtest). The
  product's 80 % band therefore holds the truth about 80 % of the time on the series it was
  trained on, whatever the noise's autocorrelation, instead of trusting a normal-iid formula.
* **Crossing**: three quantile paths (10 %, 50 %, 90 %). The predicted crossing is the first
  step where the median path reaches the threshold; the band of the crossing time runs from
  the first step where the pessimistic path (90 % for an upper threshold) reaches it to the
  first where the optimistic one does (searched up to ``LATEST_SEARCH`` horizons, else None).

NumPy only: a fit on 14 days at 5-minute steps is a few milliseconds, a forecast well under
one; docs/predictive.md has the measurement that chose this over statsmodels/statsforecast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from intuitivus_flow.predictive.line import Line, robust_line

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]
Direction = Literal["above", "below"]

DAY = 86_400.0
WEEK = 7 * DAY
DAILY_HARMONICS = 4  # a daily shape with a sharp peak needs more than one sine
WEEKLY_HARMONICS = 3  # below the 7th, which would be the daily fundamental again
# Weekly terms need two of each weekday; a step short of 14 days still counts (the history
# window of the product is exactly 14 days and only complete steps are read).
WEEKLY_MIN_SPAN = 13 * DAY
TREND_WINDOW = 6 * 3600.0
KNOT_SPACING = 0.125  # days: the slow trend under the season may bend every 3 hours,
MAX_KNOTS = 32  # or less often on a long history (the fit stays a fraction of a second)
PENALTY = 1e-2  # L1 weight on those bends (per point and unit of noise; see fit_season)
FIT_ROUNDS = 8  # reweighting rounds: bisquare (robustness) and L1 (sparse bends) together
Z_LOW, Z_HIGH = -1.2816, 1.2816  # the normal 10 % / 90 % quantiles: the fallback band
BAND_QUANTILES = (10.0, 90.0)
# Horizon buckets (seconds) of the calibration: errors grow with the horizon, and a single
# factor would be too wide close in and too narrow far out.
CALIBRATION_BUCKETS = (3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0, DAY, WEEK)
MIN_CALIBRATION_ERRORS = 40
MAX_BACKTEST_ORIGINS = 240
LATEST_SEARCH = 4  # the crossing band's late end is searched up to 4 horizons ahead
STATE_KEYS = ("daily", "weekly", "trend_window", "calibration", "noise")


class SeasonalModelError(ValueError):
    """The series cannot be modelled (too short, not finite): no prediction."""


def _seconds(times: TimeArray) -> FloatArray:
    """Epoch seconds (float) of datetime64 values."""
    return np.asarray(
        np.asarray(times, dtype="datetime64[us]").astype(np.int64) / 1e6, dtype=np.float64
    )


def _fourier(seconds: FloatArray, period: float, harmonics: int) -> FloatArray:
    phase = 2 * np.pi * np.outer(seconds / period, np.arange(1, harmonics + 1))
    out = np.empty((len(seconds), 2 * harmonics))
    out[:, 0::2] = np.sin(phase)
    out[:, 1::2] = np.cos(phase)
    return out


@dataclass(frozen=True, slots=True)
class Season:
    """Daily (and weekly) Fourier coefficients; ``at`` evaluates them at epoch seconds."""

    daily: tuple[float, ...]
    weekly: tuple[float, ...] = ()

    def at(self, seconds: FloatArray) -> FloatArray:
        total = np.zeros(len(seconds))
        if self.daily:
            total += _fourier(seconds, DAY, len(self.daily) // 2) @ np.asarray(self.daily)
        if self.weekly:
            total += _fourier(seconds, WEEK, len(self.weekly) // 2) @ np.asarray(self.weekly)
        return total

    @property
    def names(self) -> list[str]:
        return [name for name, c in (("daily", self.daily), ("weekly", self.weekly)) if c]


def fit_season(times: TimeArray, values: FloatArray) -> tuple[Season, float]:
    """The season of the series and the residual noise (robust standard deviation).

    Needs a full day (else there is no daily season to learn: ``SeasonalModelError``).
    Three rounds of bisquare reweighting keep incidents out of the profile.
    """
    t = _seconds(times)
    y = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(y)
    t, y = t[finite], y[finite]
    if len(y) < 24:
        raise SeasonalModelError(f"{len(y)} finite values, need at least 24")
    span = float(t[-1] - t[0])
    if span < DAY * 0.99:
        raise SeasonalModelError(f"{span / 3600:.1f} h of history, a daily season needs 24 h")
    weekly = span >= WEEKLY_MIN_SPAN
    rel = (t - t[0]) / DAY
    spacing = max(KNOT_SPACING, rel[-1] / MAX_KNOTS)  # bounded cost on a long history
    knots = np.arange(spacing, rel[-1] - spacing / 2, spacing)
    columns = [np.ones_like(rel), rel, *(np.maximum(rel - k, 0.0) for k in knots)]
    trend_basis = np.column_stack(columns)
    daily = _fourier(t, DAY, DAILY_HARMONICS)
    design = [trend_basis, daily]
    if weekly:
        design.append(_fourier(t, WEEK, WEEKLY_HARMONICS))
    matrix = np.hstack(design)
    # The slope changes at the knots are penalised by their absolute size (L1, as in trend
    # filtering, solved by reweighting): the trend may bend sharply where the data insist (a
    # disk starting to fill) but not wiggle along with the day, which the Fourier terms explain
    # for free. An L2 penalty would prefer many small bends, i.e. a trend mimicking the season.
    rough = 1.4826 * float(np.median(np.abs(np.diff(y) - np.median(np.diff(y))))) / math.sqrt(2)
    strength = PENALTY * len(y) / max(rel[-1] / spacing, 1.0) * max(rough, 1e-9)
    bends = 2 + np.arange(len(knots))
    size = np.ones(len(knots))
    weights = np.ones(len(y))
    coef = np.zeros(matrix.shape[1])
    for _ in range(FIT_ROUNDS):
        penalty = np.zeros((len(knots), matrix.shape[1]))
        penalty[np.arange(len(knots)), bends] = np.sqrt(strength / size)
        root = np.sqrt(weights)
        stacked = np.vstack([matrix * root[:, None], penalty])
        target = np.concatenate([y * root, np.zeros(len(knots))])
        coef = np.linalg.lstsq(stacked, target, rcond=None)[0]
        size = np.maximum(np.abs(coef[bends]), 1e-6 + 1e-3 * rough)
        residual = y - matrix @ coef
        scale = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
        if scale > 0:  # bisquare weights keep incidents out of the season
            u = residual / (6 * scale)
            weights = np.where(np.abs(u) < 1, (1 - u**2) ** 2, 0.0)
    residual = y - matrix @ coef
    noise = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    start = trend_basis.shape[1]
    daily_coef = coef[start : start + 2 * DAILY_HARMONICS]
    weekly_coef = coef[start + 2 * DAILY_HARMONICS :] if weekly else np.empty(0)
    if not (np.all(np.isfinite(coef)) and math.isfinite(noise)):
        raise SeasonalModelError("the seasonal fit did not converge")
    season = Season(tuple(float(c) for c in daily_coef), tuple(float(c) for c in weekly_coef))
    return season, noise


def _spread(line: Line, ahead: FloatArray) -> FloatArray:
    """Parametric standard deviation of the forecast error ``ahead`` seconds out."""
    return np.asarray(np.sqrt(line.noise**2 + (ahead * line.slope_se) ** 2), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per horizon bucket, the 10 % and 90 % quantiles of standardised forecast errors."""

    low: tuple[float, ...] = (Z_LOW,) * len(CALIBRATION_BUCKETS)
    high: tuple[float, ...] = (Z_HIGH,) * len(CALIBRATION_BUCKETS)
    errors: int = 0  # how many backtest errors it rests on (0: the normal fallback)

    def factors(self, ahead: FloatArray) -> tuple[FloatArray, FloatArray]:
        bucket = np.minimum(
            np.searchsorted(CALIBRATION_BUCKETS, ahead, side="left"), len(CALIBRATION_BUCKETS) - 1
        )
        return np.asarray(self.low)[bucket], np.asarray(self.high)[bucket]


@dataclass(frozen=True, slots=True)
class ForecastPath:
    """Forecast at ``seconds`` (epoch): median and the 80 % band."""

    seconds: FloatArray
    centre: FloatArray
    lower: FloatArray
    upper: FloatArray
    line: Line


@dataclass(frozen=True, slots=True)
class Crossing:
    """The first crossing of a threshold, as seconds after the last observation."""

    predicted: float
    earliest: float
    latest: float | None  # None: the optimistic path does not cross within LATEST_SEARCH horizons


@dataclass(frozen=True, slots=True)
class SeasonalModel:
    season: Season
    calibration: Calibration = Calibration()
    trend_window: float = TREND_WINDOW
    noise: float = 0.0

    # ---- fitting -------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        times: TimeArray,
        values: FloatArray,
        *,
        trend_window: float = TREND_WINDOW,
        max_horizon: float = DAY,
    ) -> SeasonalModel:
        """Season from the whole series, band calibrated by a backtest on the same series."""
        season, noise = fit_season(times, values)
        model = cls(season, Calibration(), trend_window, noise)
        return cls(season, model.backtest(times, values, max_horizon), trend_window, noise)

    def backtest(self, times: TimeArray, values: FloatArray, max_horizon: float) -> Calibration:
        """Standardised errors of forecasts made from past origins, per horizon bucket.

        Origins start once a full trend window lies behind them; each forecasts the values
        after it up to ``max_horizon``. The season comes from the whole series (fitting it
        again per origin would cost a fit each), which makes the errors slightly optimistic;
        the benchmark measures the band on data the model never saw.
        """
        t = _seconds(times)
        y = np.asarray(values, dtype=np.float64)
        if len(y) < 4:
            return Calibration()
        step = float(np.median(np.diff(t)))
        deseasoned = y - self.season.at(t)
        first = int(np.searchsorted(t, t[0] + self.trend_window))
        origins = np.arange(first, len(y) - 1)
        if len(origins) > MAX_BACKTEST_ORIGINS:
            origins = origins[np.linspace(0, len(origins) - 1, MAX_BACKTEST_ORIGINS).astype(int)]
        ahead_steps = max(1, int(max_horizon // step))
        zs: list[FloatArray] = []
        aheads: list[FloatArray] = []
        for origin in origins:
            window = (t > t[origin] - self.trend_window) & (np.arange(len(t)) <= origin)
            if window.sum() < 6:
                continue
            line = robust_line(t[window], deseasoned[window])
            future = slice(origin + 1, min(len(y), origin + 1 + ahead_steps))
            ahead = t[future] - t[origin]
            predicted = line.level + line.slope * ahead
            spread = _spread(line, ahead)
            ok = spread > 0
            zs.append(((deseasoned[future] - predicted)[ok] / spread[ok]).astype(np.float64))
            aheads.append(ahead[ok])
        if not zs:
            return Calibration()
        z = np.concatenate(zs)
        ahead_all = np.concatenate(aheads)
        finite = np.isfinite(z)
        z, ahead_all = z[finite], ahead_all[finite]
        if len(z) < MIN_CALIBRATION_ERRORS:
            return Calibration()
        pooled = [float(q) for q in np.percentile(z, BAND_QUANTILES)]
        bucket = np.searchsorted(CALIBRATION_BUCKETS, ahead_all, side="left")
        low: list[float] = []
        high: list[float] = []
        for index in range(len(CALIBRATION_BUCKETS)):
            chosen = z[bucket == index]
            if len(chosen) >= MIN_CALIBRATION_ERRORS:
                q_low, q_high = (float(q) for q in np.percentile(chosen, BAND_QUANTILES))
            else:  # a horizon the history is too short to test: the nearest tested one
                q_low, q_high = (low[-1], high[-1]) if low else (pooled[0], pooled[1])
            # Never narrower than the normal band: a short, lucky backtest must not make the
            # model overconfident.
            low.append(min(float(q_low), Z_LOW))
            high.append(max(float(q_high), Z_HIGH))
        return Calibration(tuple(low), tuple(high), len(z))

    # ---- forecasting ---------------------------------------------------------------------

    def path(self, times: TimeArray, values: FloatArray, ahead: FloatArray) -> ForecastPath:
        """Median and 80 % band ``ahead`` seconds after the last of ``times``.

        Reads only the last ``trend_window`` of the series (the caller may pass more).
        """
        t = _seconds(times)
        y = np.asarray(values, dtype=np.float64)
        keep = (t > t[-1] - self.trend_window) & np.isfinite(y)
        if keep.sum() < 6:
            raise SeasonalModelError(f"{int(keep.sum())} values in the trend window, need 6")
        t, y = t[keep], y[keep]
        line = robust_line(t, y - self.season.at(t))
        future = t[-1] + ahead
        centre = line.level + line.slope * ahead + self.season.at(future)
        spread = _spread(line, ahead)
        low, high = self.calibration.factors(ahead)
        return ForecastPath(future, centre, centre + low * spread, centre + high * spread, line)

    def crossing(
        self,
        times: TimeArray,
        values: FloatArray,
        threshold: float,
        horizon: float,
        *,
        direction: Direction = "above",
        step: float | None = None,
    ) -> tuple[Crossing | None, ForecastPath]:
        """The first crossing within ``horizon`` seconds (None if the median path stays short).

        Also None when the last value already breaches: that is the threshold alert's job.
        """
        t = _seconds(times)
        if step is None:
            step = float(np.median(np.diff(t[-12:]))) if len(t) > 1 else 300.0
        count = max(1, int(LATEST_SEARCH * horizon // step))
        ahead = step * np.arange(1, count + 1, dtype=np.float64)
        path = self.path(times, values, ahead)
        sign = 1.0 if direction == "above" else -1.0
        last = float(np.asarray(values, dtype=np.float64)[-1])
        if sign * (last - threshold) >= 0:
            return None, path
        # For "below", the pessimistic path is the lower one.
        pessimistic, optimistic = (
            (path.upper, path.lower) if direction == "above" else (path.lower, path.upper)
        )
        predicted = _first(sign * (path.centre - threshold) >= 0, ahead)
        if predicted is None or predicted > horizon:
            return None, path
        earliest = _first(sign * (pessimistic - threshold) >= 0, ahead)
        latest = _first(sign * (optimistic - threshold) >= 0, ahead)
        crossing = Crossing(
            predicted=predicted,
            earliest=min(earliest if earliest is not None else predicted, predicted),
            latest=None if latest is None else max(latest, predicted),
        )
        return crossing, path

    # ---- persistence (the `breach` key of a forecast model's JSON state) -----------------

    def to_state(self) -> dict[str, Any]:
        return {
            "daily": list(self.season.daily),
            "weekly": list(self.season.weekly),
            "trend_window": self.trend_window,
            "noise": self.noise,
            "calibration": {
                "low": list(self.calibration.low),
                "high": list(self.calibration.high),
                "errors": self.calibration.errors,
            },
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SeasonalModel:
        missing = [key for key in STATE_KEYS if key not in state]
        if missing:
            raise SeasonalModelError(f"seasonal state lacks {', '.join(missing)}")
        calibration = state["calibration"]
        return cls(
            Season(_floats(state["daily"]), _floats(state["weekly"])),
            Calibration(
                _floats(calibration["low"]),
                _floats(calibration["high"]),
                int(calibration["errors"]),
            ),
            float(state["trend_window"]),
            float(state["noise"]),
        )


def _floats(values: Sequence[Any]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _first(mask: npt.NDArray[np.bool_], ahead: FloatArray) -> float | None:
    hits = np.flatnonzero(mask)
    return float(ahead[hits[0]]) if hits.size else None
