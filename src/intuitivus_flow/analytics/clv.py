"""Customer lifetime value for non-contractual purchases: BG/NBD and Gamma-Gamma.

BG/NBD (Fader, Hardie and Lee 2005) models how often a customer buys while "alive" and when
they silently drop out; Gamma-Gamma (Fader, Hardie and Lee 2005b; Fader and Hardie 2013)
models how much a repeat buyer spends per transaction. Both are fitted by maximum likelihood
with scipy (lifetimes is archived and PyMC-Marketing pulls in a sampler this needs not).
Parameters are optimised on the log scale, so they stay positive without bounds.

Conventions (those of the paper and of lifetimes): time in weeks; several transactions of a
customer on one day are one purchase (amounts summed); `frequency` counts repeat purchases;
`recency` is the age at the last purchase; `T` the age at the end of calibration; the
monetary value is the mean of the repeat purchases (the first one is left out).

`benchmarks/cdnow.py` reproduces the published CDNOW parameters from raw transactions.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

DAYS_PER_PERIOD = 7.0
# The weight of the pull towards parameters of 1 when a workspace's contacts are fitted: a
# fraction of one customer's log-likelihood, so thousands of customers barely feel it (the
# CDNOW sample's BG/NBD parameters move by at most 1.2 %) while a few dozen stay off the
# degenerate edge.
SMALL_DATA_PENALIZER = 0.1


class ClvInputError(ValueError):
    """Transactions that cannot be read or fitted; the message is one readable line."""


@dataclass(frozen=True, slots=True)
class Transaction:
    customer_id: str
    day: date
    amount: float


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    """One customer over the calibration period (weeks)."""

    customer_id: str
    frequency: int
    recency: float
    T: float  # the literature's name for the age at the end of calibration
    monetary_value: float


@dataclass(frozen=True, slots=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float
    log_likelihood: float


@dataclass(frozen=True, slots=True)
class ContactPrediction:
    customer_id: str
    frequency: int
    recency: float
    T: float
    p_alive: float
    expected_purchases: float
    expected_spend: float | None


# -- reading transactions ---------------------------------------------------------------


def _parse_day(text: str) -> date:
    text = text.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a date (YYYY-MM-DD or YYYYMMDD)") from None


def parse_transactions(text: str) -> list[Transaction]:
    """Transactions in CDNOW's whitespace format (`id [other id] YYYYMMDD count amount`) or a
    CSV `customer_id,date,amount`, a `customer_id ...` header line optional in both. Raises
    ClvInputError naming the first bad line."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if lines and lines[0][1].strip().startswith("customer_id"):
        lines = lines[1:]
    if not lines:
        raise ClvInputError("the file holds no transactions")
    is_csv = "," in lines[0][1]
    rows: list[Transaction] = []
    for number, line in lines:
        try:
            customer, day, amount = _fields(line, is_csv=is_csv)
            value = float(amount)
            if not customer or not math.isfinite(value) or value < 0:
                raise ValueError("needs a customer id and a non-negative amount")
        except ValueError as error:
            raise ClvInputError(f"line {number}: {error}") from None
        rows.append(Transaction(customer, day, value))
    return rows


def _fields(line: str, *, is_csv: bool) -> tuple[str, date, str]:
    if is_csv:
        fields = next(csv.reader(io.StringIO(line)))
        if len(fields) != 3:
            raise ValueError("expected customer_id,date,amount")
        return fields[0].strip(), _parse_day(fields[1]), fields[2]
    fields = line.split()
    # The 1/10 sample carries a second id column; the master file does not.
    if len(fields) == 5:
        return fields[0], _parse_day(fields[2]), fields[4]
    if len(fields) == 4:
        return fields[0], _parse_day(fields[1]), fields[3]
    raise ValueError("expected 4 or 5 whitespace-separated fields (CDNOW format)")


def read_transactions(path: Path) -> list[Transaction]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ClvInputError(f"cannot read {path}: {error.__class__.__name__}") from None
    return parse_transactions(text)


def summarise(
    transactions: Iterable[Transaction], *, calibration_end: date
) -> list[CustomerSummary]:
    """Per customer (first purchase on or before `calibration_end`): frequency, recency, T in
    weeks and the mean repeat purchase, from transactions up to `calibration_end` inclusive."""
    days: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for t in transactions:
        if t.day <= calibration_end:
            days[t.customer_id][t.day] += t.amount
    summaries = []
    for customer, by_day in days.items():
        ordered = sorted(by_day)
        first, last = ordered[0], ordered[-1]
        repeats = [by_day[d] for d in ordered[1:]]
        summaries.append(
            CustomerSummary(
                customer_id=customer,
                frequency=len(repeats),
                recency=(last - first).days / DAYS_PER_PERIOD,
                T=(calibration_end - first).days / DAYS_PER_PERIOD,
                monetary_value=sum(repeats) / len(repeats) if repeats else 0.0,
            )
        )
    summaries.sort(key=lambda s: s.customer_id)
    return summaries


# -- BG/NBD -----------------------------------------------------------------------------


def _bgnbd_loglik(
    params: NDArray[np.float64],
    x: NDArray[np.float64],
    t_x: NDArray[np.float64],
    big_t: NDArray[np.float64],
    weights: NDArray[np.float64],
) -> float:
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    # The dropout term exists only for customers who bought again (delta(x > 0)).
    a4 = np.full_like(x, -np.inf)
    a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    return float(np.sum(weights * (a1 + a2 + np.logaddexp(a3, a4))))


def _grouped(
    columns: Sequence[NDArray[np.float64]],
) -> tuple[list[NDArray[np.float64]], NDArray[np.float64]]:
    """Identical customers collapse into one row with a weight: the likelihood is a sum."""
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, i] for i in range(unique.shape[1])], counts.astype(np.float64)


def _maximise(
    loglik: Callable[..., float],
    start: NDArray[np.float64],
    args: tuple[object, ...],
    penalizer: float,
) -> tuple[NDArray[np.float64], float]:
    """Maximise `loglik` over positive parameters; returns them and the unpenalised
    log-likelihood. `penalizer` pulls log-parameters towards 0 (parameters towards 1) with a
    fixed weight, so it fades as data grow: a workspace with thirty buyers otherwise drifts to
    the degenerate edge (r and alpha to infinity, a and b to zero) where predictions overflow."""

    def negative(log_params: NDArray[np.float64]) -> float:
        value = loglik(np.exp(log_params), *args)
        if not math.isfinite(value):
            return 1e300
        return -value + penalizer * float(np.sum(log_params**2))

    best = optimize.minimize(
        negative,
        np.log(start),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20000, "maxfev": 40000},
    )
    # Polish with a gradient method from the simplex's answer: Nelder-Mead alone stops a
    # little short on flat ridges (alpha and r move together).
    polished = optimize.minimize(negative, best.x, method="BFGS", options={"gtol": 1e-8})
    winner = polished if polished.fun <= best.fun else best
    if not math.isfinite(winner.fun) or winner.fun >= 1e300:
        raise ClvInputError("the model could not be fitted to these transactions")
    params = np.exp(winner.x)
    return params, loglik(params, *args)


def fit_bgnbd(summaries: Sequence[CustomerSummary], *, penalizer: float = 0.0) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters; needs some customers with repeat purchases."""
    if not summaries:
        raise ClvInputError("no customer bought before the end of calibration")
    if not any(s.frequency > 0 for s in summaries):
        raise ClvInputError("no customer bought twice: BG/NBD needs repeat purchases")
    (x, t_x, big_t), weights = _grouped(
        [
            np.array([s.frequency for s in summaries], dtype=np.float64),
            np.array([s.recency for s in summaries], dtype=np.float64),
            np.array([s.T for s in summaries], dtype=np.float64),
        ]
    )
    params, ll = _maximise(
        _bgnbd_loglik, np.array([1.0, 1.0, 1.0, 1.0]), (x, t_x, big_t, weights), penalizer
    )
    r, alpha, a, b = (float(v) for v in params)
    return BgNbdParams(r=r, alpha=alpha, a=a, b=b, log_likelihood=ll)


def p_alive(params: BgNbdParams, frequency: float, recency: float, age: float) -> float:
    """Probability the customer is still active at the end of calibration."""
    if frequency == 0:
        return 1.0
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_ratio = (r + frequency) * (math.log(alpha + age) - math.log(alpha + recency))
    return 1.0 / (1.0 + a / (b + frequency - 1) * math.exp(log_ratio))


def expected_purchases(
    params: BgNbdParams, horizon: float, frequency: float, recency: float, age: float
) -> float:
    """Expected purchases in the next `horizon` weeks given the customer's history
    (Fader, Hardie and Lee 2005, equation 10)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = frequency
    hyper = special.hyp2f1(r + x, b + x, a + b + x - 1, horizon / (alpha + age + horizon))
    if abs(a - 1) < 1e-9:
        a = 1 + 1e-9  # the closed form divides by a - 1; its limit is continuous there
    first = (a + b + x - 1) / (a - 1)
    second = 1 - ((alpha + age) / (alpha + age + horizon)) ** (r + x) * hyper
    denominator = 1.0
    if x > 0:
        denominator += a / (b + x - 1) * ((alpha + age) / (alpha + recency)) ** (r + x)
    return float(first * second / denominator)


# -- Gamma-Gamma ------------------------------------------------------------------------


def _gamma_gamma_loglik(
    params: NDArray[np.float64],
    x: NDArray[np.float64],
    m: NDArray[np.float64],
    weights: NDArray[np.float64],
) -> float:
    p, q, gamma = params
    px = p * x
    values = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(gamma + m * x)
    )
    return float(np.sum(weights * values))


def fit_gamma_gamma(
    summaries: Sequence[CustomerSummary], *, penalizer: float = 0.0
) -> GammaGammaParams:
    """Spend model over the repeat buyers (frequency > 0, positive mean spend)."""
    buyers = [s for s in summaries if s.frequency > 0 and s.monetary_value > 0]
    if len(buyers) < 2:
        raise ClvInputError("Gamma-Gamma needs at least two customers with repeat purchases")
    (x, m), weights = _grouped(
        [
            np.array([s.frequency for s in buyers], dtype=np.float64),
            np.array([s.monetary_value for s in buyers], dtype=np.float64),
        ]
    )
    params, ll = _maximise(
        _gamma_gamma_loglik, np.array([1.0, 1.0, 1.0]), (x, m, weights), penalizer
    )
    p, q, gamma = (float(v) for v in params)
    return GammaGammaParams(p=p, q=q, gamma=gamma, log_likelihood=ll)


def expected_spend(params: GammaGammaParams, frequency: float, monetary_value: float) -> float:
    """Expected mean transaction value of a customer: a weighted mean of the population's
    and the customer's own (Fader and Hardie 2013, equation 5)."""
    p, q, gamma = params.p, params.q, params.gamma
    return (gamma + monetary_value * frequency) * p / (p * frequency + q - 1)


# -- the whole analysis -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClvFit:
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams | None
    summaries: list[CustomerSummary]

    def as_json(self) -> dict[str, dict[str, float]]:
        body: dict[str, dict[str, float]] = {
            "bgnbd": {
                "r": self.bgnbd.r,
                "alpha": self.bgnbd.alpha,
                "a": self.bgnbd.a,
                "b": self.bgnbd.b,
                "log_likelihood": self.bgnbd.log_likelihood,
            }
        }
        if self.gamma_gamma is not None:
            gg = self.gamma_gamma
            body["gamma_gamma"] = {
                "p": gg.p,
                "q": gg.q,
                "gamma": gg.gamma,
                "log_likelihood": gg.log_likelihood,
            }
        return body

    def predictions(self, *, horizon_weeks: float) -> list[ContactPrediction]:
        rows = []
        for s in self.summaries:
            spend = None
            if self.gamma_gamma is not None and s.frequency > 0:
                spend = expected_spend(self.gamma_gamma, s.frequency, s.monetary_value)
            rows.append(
                ContactPrediction(
                    customer_id=s.customer_id,
                    frequency=s.frequency,
                    recency=s.recency,
                    T=s.T,
                    p_alive=p_alive(self.bgnbd, s.frequency, s.recency, s.T),
                    expected_purchases=expected_purchases(
                        self.bgnbd, horizon_weeks, s.frequency, s.recency, s.T
                    ),
                    expected_spend=spend,
                )
            )
        return rows


def fit(
    transactions: Iterable[Transaction], *, calibration_end: date, penalizer: float = 0.0
) -> ClvFit:
    """Both models from raw transactions. Gamma-Gamma is None when too few repeat buyers.
    `penalizer` 0 is the plain maximum-likelihood fit (the published CDNOW figures); small
    data sets want `SMALL_DATA_PENALIZER`."""
    summaries = summarise(transactions, calibration_end=calibration_end)
    bgnbd = fit_bgnbd(summaries, penalizer=penalizer)
    try:
        gamma_gamma: GammaGammaParams | None = fit_gamma_gamma(summaries, penalizer=penalizer)
    except ClvInputError:
        gamma_gamma = None
    return ClvFit(bgnbd=bgnbd, gamma_gamma=gamma_gamma, summaries=summaries)
