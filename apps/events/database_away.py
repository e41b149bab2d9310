"""Telling "the database is away" apart from an ordinary failure, for pages, the API and jobs.

A database restart, failover or outage shows up as a driver error on a connection: refused,
closed by the server (AdminShutdown), or no pooled connection to be had. Those are not faults
of what was being done: the API answers 503 with Retry-After (auditconsole/errors.py), and a
worker job is run again a few seconds later (DATABASE_AWAY_RETRY) instead of ending as failed.
An error the database raised about the statement itself (a syntax error, a statement timeout,
a constraint) is an ordinary failure.
"""
from __future__ import annotations

import psycopg
from django.db import connection
from django.db.utils import InterfaceError, OperationalError
from procrastinate import RetryStrategy
from psycopg_pool import PoolTimeout

# A job that starts (or is cut off) while the database is away is run again a few seconds later,
# up to about a minute, instead of ending as failed. Jobs with this strategy must be safe to run
# again (each job below says how it is).
DATABASE_AWAY_RETRY = RetryStrategy(max_attempts=20, wait=3, retry_exceptions={OperationalError, InterfaceError})

# SQLSTATE classes of a lost connection: 08 (connection exception) and 57P (operator
# intervention: admin shutdown, crash shutdown, cannot connect now). 57014 (a cancelled
# statement, e.g. a statement timeout) is not one of them.
_AWAY_SQLSTATES = ("08", "57P")


def causes(error: BaseException | None):
    """`error` and what it was raised from (Django wraps the driver's errors)."""
    seen = set()
    while error is not None and id(error) not in seen:
        yield error
        seen.add(id(error))
        error = error.__cause__ or error.__context__


def is_pool_timeout(error: BaseException | None) -> bool:
    return any(isinstance(cause, PoolTimeout) for cause in causes(error))


def is_database_away(error: BaseException | None) -> bool:
    """Whether `error` is a lost or refused connection (not a pool timeout, not the statement's fault)."""
    for cause in causes(error):
        if isinstance(cause, PoolTimeout):
            continue
        if isinstance(cause, psycopg.InterfaceError):
            return True
        if isinstance(cause, psycopg.OperationalError):
            state = getattr(cause, "sqlstate", None)
            return state is None or state.startswith(_AWAY_SQLSTATES)
    return any(isinstance(cause, (OperationalError, InterfaceError)) and cause.__cause__ is None for cause in causes(error))


def database_answers() -> bool:
    """One quick connection attempt outside the pool: is the database there at all?"""
    params = connection.get_connection_params()
    params.pop("pool", None)
    params["connect_timeout"] = 2
    try:
        with psycopg.connect(**params) as probe:
            probe.execute("SELECT 1")
    except Exception:  # any failure to connect is the answer
        return False
    return True


def worth_retrying(error: BaseException) -> bool:
    """Whether a job that failed with `error` should be run again later rather than marked failed."""
    return is_database_away(error) or (is_pool_timeout(error) and not database_answers())
