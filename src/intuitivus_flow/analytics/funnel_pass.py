"""Sequential funnels in one ordered pass over the step events: the embedded store's fast plan.

ClickHouse answers a funnel with `windowFunnel`, one pass over each person's events in time
order; DuckDB has no such function, and the SQL plan of `funnels.py` spends most of its time in
one ASOF join per step and a window that picks each person's furthest attempt. Here the store
only fetches the step events, numpy sorts them by person and time (`in_person_time_order`) and
follows every attempt at once, one step at a time:

- an attempt starts at each step-1 row (the store sends only those inside the date range);
- its step k is the first step-k row after the previous step's row; rows are sorted by
  person, time and step, so a step-k event at the same instant as step k - 1 comes after it
  (equal timestamps count as in order); the attempt stops there if that row is another
  person's or past step 1's time + window;
- per person the attempt reaching most steps wins, ties to the earliest step 1 and then the
  earliest row: when a breakdown reads the winner's step-1 event, the store sends the rows
  sorted, equal times by step and message id (the tie-break docs/analytics.md documents),
  and they are not sorted again here.

`funnels.funnel_plan` sends here sequential funnels whose steps are distinct events with no
exclusions, where one event fills at most one step; tests/analytics/events/
test_funnel_reference.py checks the answers equal the SQL plan's and a plain-Python reference.

Memory: the web process holds the step events' columns for the duration of the call, person
key, time and step index (17 bytes a row; a breakdown adds each row's value as a Python
string), their sorted copies and a few int64 index arrays as long; measured peak about 85
bytes per step event (20 MB for the benchmark's 231 k step events among 2 M events), all
freed when it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Index = npt.NDArray[np.intp]


@dataclass(frozen=True)
class StepEvents:
    """The step events of one funnel (`furthest_attempts` wants them sorted by person, time
    and step): a person's key, the time in epoch microseconds, the step the event matches
    (1..n) and, for a breakdown, the property's value on step-1 events."""

    person: npt.NDArray[Any]
    ts: Ints
    step: npt.NDArray[np.int8]
    breakdown: npt.NDArray[np.object_] | None = None


@dataclass(frozen=True)
class Furthest:
    """Per person in the funnel: the steps its furthest attempt reached, the times of those
    steps (`times[k - 1]`, meaningful where `reached >= k`) and the attempt's step-1 row."""

    reached: npt.NDArray[np.int8]
    times: list[Ints]
    first_rows: Index


def in_person_time_order(events: StepEvents) -> StepEvents:
    """The events sorted by person, time and step. Rows equal in all three are equal, so the
    order among them does not matter: a stable argsort groups the persons (merging the runs
    the store wrote sorted by person), then each row gets one unsigned 64-bit key, its time on
    a line where each person has a slot after the previous person's (`_one_line`) and its step
    in the low bits; the keys are sorted as values and read back by position, each person's
    rows keeping their slots, so no column is gathered after the sort. Where the keys would
    not fit: a lexsort."""
    if len(events.ts) == 0:
        return events
    if events.breakdown is not None:  # equal rows keep their order, the message ids'
        order = np.lexsort((events.step, events.ts, events.person))
        return StepEvents(
            events.person[order], events.ts[order], events.step[order], events.breakdown[order]
        )
    by_person = np.argsort(events.person, kind="stable")  # merges the runs the store wrote
    person, ts, step = events.person[by_person], events.ts[by_person], events.step[by_person]
    new_person = np.empty(len(person), dtype=bool)
    new_person[0] = True
    np.not_equal(person[1:], person[:-1], out=new_person[1:])
    firsts = np.flatnonzero(new_person)
    rank = np.cumsum(new_person) - 1  # of the person, 0, 1, 2, ... in this order
    step_bits = int(events.step.max()).bit_length()
    start, earliest, line = _one_line(ts, rank, firsts, 2**64 >> step_bits)
    if line << step_bits <= 2**64:
        # unsigned arithmetic wraps, but every result below lies in [0, 2**64): all exact
        shift = (start.astype(np.uint64) - earliest.astype(np.uint64))[rank]
        key = _time_step_key(ts.astype(np.uint64) + shift, step, step_bits)
        key.sort(kind="stable")  # each person's rows come as a few sorted runs
        step = (key & np.uint64((1 << step_bits) - 1)).astype(np.int8)
        key >>= np.uint64(step_bits)
        key -= shift
        return StepEvents(person, key.astype(np.int64), step)
    if line <= 2**63:  # the step as a second key
        order = by_person[np.lexsort((step, (start - earliest)[rank] + ts))]
    else:
        order = np.lexsort((events.step, events.ts, events.person))
    return StepEvents(events.person[order], events.ts[order], events.step[order])


def _one_line(ts: Ints, rank: Ints, firsts: Index, room: int) -> tuple[Ints, Ints, int]:
    """Per person, where its times start on one line and the earliest time it may have, and
    the line's length: first each person a slot as wide as the widest spread of times around
    each person's first row (cheap: one gather, a min and a max), where that exceeds `room`,
    each person its own span (exact per person, a min and a max per person: 10 M events,
    16 ms)."""
    anchor = ts[firsts]
    deviation = ts - anchor[rank]
    low = int(deviation.min())
    width = int(deviation.max()) - low + 1
    if len(firsts) * width < room:
        return np.arange(len(firsts)) * width, anchor + low, len(firsts) * width
    earliest = np.minimum.reduceat(ts, firsts)
    length = np.maximum.reduceat(ts, firsts) - earliest + 1
    return np.cumsum(length) - length, earliest, _exact_sum(length)


def _time_step_key(
    at: npt.NDArray[np.uint64], step: npt.NDArray[np.int8], step_bits: int
) -> npt.NDArray[np.uint64]:
    """at << step_bits | step, in place of `at`."""
    at <<= np.uint64(step_bits)
    at |= step.astype(np.uint64)
    return at


def furthest_attempts(events: StepEvents, steps: int, window_us: int) -> Furthest:
    """Every attempt followed at once, then each person's furthest one."""
    starts = np.flatnonzero(events.step == 1)
    t1 = events.ts[starts]
    owner = events.person[starts]
    reached = np.ones(len(starts), dtype=np.int8)
    times = [t1]
    live = np.arange(len(starts))  # attempts that reached every step so far
    current = starts  # the row of each live attempt's latest step
    last = len(events.ts) - 1
    for k in range(2, steps + 1):
        found = _next_rows(events.step == k, current)
        inside = np.minimum(found, last)  # a row to read where none was found
        going = (
            (found <= last)
            & (events.person[inside] == owner[live])
            & (events.ts[inside] <= t1[live] + window_us)
        )
        live, current = live[going], inside[going]
        reached[live] = k
        step_times = np.zeros(len(starts), dtype=np.int64)
        step_times[live] = events.ts[current]
        times.append(step_times)
    best = _furthest_per_person(owner, reached)
    return Furthest(reached[best], [t[best] for t in times], starts[best])


def _next_rows(holds: npt.NDArray[np.bool_], after: Index) -> Index:
    """For each of `after`, rows where `holds` is false, the first row after it where `holds`
    (len(holds) when none): the rows that hold, indexed by how many come before (a running
    count, cheaper than a binary search per row)."""
    before = np.cumsum(holds, dtype=np.intp)[after]
    return np.append(np.flatnonzero(holds), len(holds))[before]


def _furthest_per_person(owner: npt.NDArray[Any], reached: npt.NDArray[np.int8]) -> Index:
    """Per person, the first attempt among those reaching most steps. Attempts come in row
    order, so within a person the first one has the earliest step 1 (then the earliest row)."""
    if len(owner) == 0:
        return np.zeros(0, dtype=np.intp)
    new_person = np.ones(len(owner), dtype=bool)
    new_person[1:] = owner[1:] != owner[:-1]
    person = np.cumsum(new_person) - 1
    most = np.maximum.reduceat(reached, np.flatnonzero(new_person))
    candidates = np.flatnonzero(reached == most[person])
    first = np.ones(len(candidates), dtype=bool)
    first[1:] = person[candidates[1:]] != person[candidates[:-1]]
    return candidates[first]


def step_summaries(
    furthest: Furthest, steps: int, breakdown: npt.NDArray[np.object_] | None = None
) -> dict[str, dict[str, Any]]:
    """Per breakdown value ('' for the whole funnel): `n{k}` persons reaching step k and, from
    step 2, `mean{k}`/`median{k}` of t_k - t_(k-1) in microseconds among them, the columns of
    the SQL plan's aggregate (None where nobody reached k)."""
    if len(furthest.reached) == 0:
        return {}
    if breakdown is None:
        return {"": _whole_funnel(furthest, steps)}
    labels, group = np.unique(breakdown[furthest.first_rows], return_inverse=True)
    rows: list[dict[str, Any]] = [{} for _ in labels]
    for k in range(1, steps + 1):
        at_k = furthest.reached >= k
        counts = np.bincount(group[at_k], minlength=len(labels))
        means: list[float | None] = [None] * len(labels)
        medians: list[float | None] = [None] * len(labels)
        if k > 1:
            deltas = furthest.times[k - 1][at_k] - furthest.times[k - 2][at_k]
            means, medians = _mean_and_median(group[at_k], deltas, len(labels))
        for row, count, mean, median in zip(rows, counts.tolist(), means, medians, strict=True):
            row[f"n{k}"] = count
            if k > 1:
                row[f"mean{k}"], row[f"median{k}"] = mean, median
    return {str(label): row for label, row in zip(labels.tolist(), rows, strict=True)}


def _whole_funnel(furthest: Furthest, steps: int) -> dict[str, Any]:
    """`step_summaries` of a single group, without the grouping: the counts from one bincount
    of the steps reached, each step's mean and median from its deltas alone."""
    stopped_at = np.bincount(furthest.reached, minlength=steps + 1)
    row: dict[str, Any] = {}
    for k in range(1, steps + 1):
        row[f"n{k}"] = int(stopped_at[k:].sum())
        if k > 1:
            at_k = furthest.reached >= k
            deltas = furthest.times[k - 1][at_k] - furthest.times[k - 2][at_k]
            row[f"mean{k}"], row[f"median{k}"] = _mean_and_median_of(deltas)
    return row


def _mean_and_median_of(deltas: Ints) -> tuple[float | None, float | None]:
    """`_mean_and_median` of one group; partitions `deltas` in place."""
    size = len(deltas)
    if size == 0:
        return None, None
    mean = _exact_sum(deltas) / size
    deltas.partition(size // 2)
    high = float(deltas[size // 2])
    # the lower middle of an even count is the largest value below the upper one
    low = float(deltas[: size // 2].max()) if size % 2 == 0 else high
    return mean, low + (high - low) * 0.5


def _exact_sum(values: Ints) -> int:
    """The sum as an integer, with numpy's int64 sum where no partial sum can overflow."""
    if len(values) * max(int(values.max()), -int(values.min())) < 2**63:
        return int(values.sum())
    return (int((values >> 32).sum()) << 32) + int((values & 0xFFFFFFFF).sum())


def _mean_and_median(
    group: Index, deltas: Ints, groups: int
) -> tuple[list[float | None], list[float | None]]:
    """Per group, the mean and the median of its deltas (None for an empty group), computed as
    DuckDB's avg and quantile_cont(0.5) do, so they round to the same milliseconds: an exact
    integer sum divided once, and the middle value or lo + (hi - lo) * 0.5 of the two."""
    if len(deltas) == 0:
        return [None] * groups, [None] * groups
    if groups == 1:  # the middle values in place are enough
        ordered = np.partition(deltas, [(len(deltas) - 1) // 2, len(deltas) // 2])
    else:
        ordered = _sorted_within_groups(group, deltas)
    counts = np.bincount(group, minlength=groups)
    present = np.flatnonzero(counts)
    starts = (np.cumsum(counts) - counts)[present]
    sizes = counts[present]
    low = ordered[starts + (sizes - 1) // 2].astype(np.float64)
    high = ordered[starts + sizes // 2].astype(np.float64)
    middle = low + (high - low) * 0.5
    # the sum in two 32-bit halves: each half's sum fits int64 where the whole might not
    high_sums = np.add.reduceat(ordered >> 32, starts)
    low_sums = np.add.reduceat(ordered & 0xFFFFFFFF, starts)
    means: list[float | None] = [None] * groups
    medians: list[float | None] = [None] * groups
    for at, size, h, lo, median in zip(
        present.tolist(),
        sizes.tolist(),
        high_sums.tolist(),
        low_sums.tolist(),
        middle.tolist(),
        strict=True,
    ):
        means[at] = ((h << 32) + lo) / size
        medians[at] = median
    return means, medians


def _sorted_within_groups(group: Index, values: Ints) -> Ints:
    """`values` ordered by group, then by value."""
    by_value = np.argsort(values)
    return values[by_value[np.argsort(group[by_value], kind="stable")]]
