"""The throw-away servers live in chaos/processes.py, shared with the chaos experiments."""

from chaos.processes import (
    FreezableProxy,
    ProcessError,
    ThrowawayPostgres,
    ThrowawayRedis,
    free_port,
    freezable_proxy,
    postgres_bin,
    silent_listener,
    throwaway_postgres,
    throwaway_redis,
)

__all__ = [
    "FreezableProxy",
    "ProcessError",
    "ThrowawayPostgres",
    "ThrowawayRedis",
    "free_port",
    "freezable_proxy",
    "postgres_bin",
    "silent_listener",
    "throwaway_postgres",
    "throwaway_redis",
]
