"""Declaring tasks, and the registry a worker is built with.

A domain declares its tasks in its `tasks.py` on a module-level `TaskList`:

    TASKS = TaskList("billing")

    @TASKS.task("billing.deliver_licence")
    async def deliver_licence(job: JobContext) -> dict[str, str]: ...

    @TASKS.periodic("billing.sweep_subscriptions", every=timedelta(hours=1))
    async def sweep(job: JobContext) -> dict[str, Any]: ...

A `TaskList` only records what its decorators declared at import; nothing runs from it. Each
worker gets its own `TaskRegistry`, built from the lists the composition root names
(`intuitivus_flow/task_registry.py`), so there is no registry a process shares: two apps in one
process (tests, reloads) run their jobs with their own tasks and their own context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from intuitivus_flow.jobs.context import JobContext

Handler = Callable[[JobContext], Awaitable[dict[str, Any] | None]]
H = TypeVar("H", bound=Handler)

MIN_PERIOD = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    kind: str
    handler: Handler
    queue: str = "default"
    # Set for periodic tasks: a job per slot of this length (jobs/periodic.py).
    every: timedelta | None = None


class TaskList:
    """One domain's declared tasks, filled by its decorators when its module is imported."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self._specs: list[TaskSpec] = []

    def task(self, kind: str, *, queue: str = "default") -> Callable[[H], H]:
        """Declare `handler` as the one that runs jobs of `kind`."""
        return self._declaring(kind, queue, None)

    def periodic(self, kind: str, *, every: timedelta, queue: str = "default") -> Callable[[H], H]:
        """Declare `handler` to run once per `every` slot (workers schedule the slots)."""
        if every < MIN_PERIOD:
            raise ValueError("periodic jobs run at most once a minute")
        return self._declaring(kind, queue, every)

    def add(self, spec: TaskSpec) -> None:
        if any(known.kind == spec.kind for known in self._specs):
            raise ValueError(f"{self.domain} declares {spec.kind!r} twice")
        self._specs.append(spec)

    def _declaring(self, kind: str, queue: str, every: timedelta | None) -> Callable[[H], H]:
        def decorator(handler: H) -> H:
            self.add(TaskSpec(kind, handler, queue, every))
            return handler

        return decorator

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(tuple(self._specs))


class TaskRegistry:
    """The tasks one worker runs, by kind; a kind declared twice is refused at build time."""

    def __init__(self, declarations: Iterable[Iterable[TaskSpec]] = ()) -> None:
        self._tasks: dict[str, TaskSpec] = {}
        for declared in declarations:
            for spec in declared:
                if spec.kind in self._tasks:
                    raise ValueError(f"task {spec.kind!r} is declared twice")
                self._tasks[spec.kind] = spec

    @classmethod
    def of(cls, *declarations: Iterable[TaskSpec]) -> TaskRegistry:
        return cls(declarations)

    def handler(self, kind: str) -> Handler | None:
        spec = self._tasks.get(kind)
        return spec.handler if spec else None

    def spec(self, kind: str) -> TaskSpec:
        return self._tasks[kind]

    def kinds(self) -> frozenset[str]:
        return frozenset(self._tasks)

    def periodic(self, queues: Iterable[str]) -> list[TaskSpec]:
        """The periodic tasks whose queue is among `queues`."""
        wanted = set(queues)
        return [s for s in self._tasks.values() if s.every is not None and s.queue in wanted]

    def only(self, *kinds: str) -> TaskRegistry:
        """The same tasks restricted to `kinds` (a worker dedicated to a few of them)."""
        return TaskRegistry([[self._tasks[kind] for kind in kinds]])

    def __contains__(self, kind: object) -> bool:
        return kind in self._tasks
