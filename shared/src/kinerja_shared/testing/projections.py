"""Proving read models (projections) order-independent: apply one set of events in any order,
concurrently and with duplicates, the way JetStream redelivery would, and compare the tables.

    consumer = EventConsumer(SPEC, HANDLERS, runtime.uow, runtime.settings)   # no NATS needed
    report = await deliver([consumer], events, order=perm, concurrency=3, duplicate_chance=0.2, rng=rnd)
    state = await snapshot(runtime.session_factory, TABLES, exclude={"assessments": {"updated_at"}})

:func:`deliver` goes through :meth:`EventConsumer.apply` (inbox claim, handler, commit), so a
handler is exercised exactly as the real consumer runs it. Up to ``concurrency`` applies run at
once; an apply that raises (``NotReady``: a prerequisite missing; ``IntegrityError``: a
conflicting concurrent insert; a deadlock on PostgreSQL...) puts the event back at the end of
the queue, as a nak would, until every delivery is "handled", "duplicate" or "skipped". An
event may be delivered twice (also concurrently with itself); the inbox must absorb it. A bound
on failed attempts per delivery turns a livelock into a failing test with the stuck events.

:func:`snapshot` reads tables as sorted lists of dicts; the columns that legitimately depend on
when an event was applied (``processed_at``, ``updated_at``...) are excluded by name, per test.
:func:`reset` empties the tables between examples (one migrated database per test).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from sqlalchemy import Table, select, text
from sqlalchemy.schema import sort_tables

from kinerja_shared.events.envelope import Envelope
from kinerja_shared.messaging.consumer import EventConsumer

def property_settings(max_examples: int) -> settings:
    """Hypothesis settings for a read-model property: no deadline (real databases), fixtures
    shared across examples (the tables are reset between them). Derandomized, so `make test`
    tries the same examples every run and a red CI means a change broke something; set
    ``KINERJA_PROPERTY_EXPLORE=1`` to draw new examples and hunt (the interleavings of
    concurrent applies differ from run to run either way)."""
    return settings(
        max_examples=max_examples, deadline=None,
        derandomize=os.environ.get("KINERJA_PROPERTY_EXPLORE", "") != "1",
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


FINAL = ("handled", "duplicate", "skipped")


@dataclass(eq=False)
class Delivery:
    consumer: EventConsumer
    envelope: Envelope
    contract: Any
    failures: int = 0
    last_error: str = ""


@dataclass
class DeliveryReport:
    outcomes: Counter = field(default_factory=Counter)  # "handled" / "duplicate" / "skipped" / "retry"
    errors: Counter = field(default_factory=Counter)  # exception type name -> how often
    handled: Counter = field(default_factory=Counter)  # (consumer durable, event_id) -> times handled


async def deliver(
    consumers: EventConsumer | Sequence[EventConsumer],
    events: Sequence[tuple[Envelope, Any]],
    *,
    order: Sequence[int] | None = None,
    concurrency: int = 1,
    duplicate_chance: float = 0.0,
    rng: random.Random | None = None,
    max_failures: int | None = None,
    retry_sleep_s: float = 0.001,
) -> DeliveryReport:
    """Apply ``events`` (``(envelope, contract)`` pairs, in publish order) through every consumer
    that handles their type, in ``order`` (a permutation of their indexes; default: as given).

    ``concurrency``: how many applies run at once. ``duplicate_chance``: the chance that an
    event is delivered a second time (put at a random later place in the queue, so it can run
    next to its first delivery). A delivery that raises goes to the end of the queue; one that
    has failed ``max_failures`` times (default: 20 + 3 x the deliveries) fails the test with
    what is stuck and why. Asserts that each event was handled exactly once per consumer."""
    consumers = [consumers] if isinstance(consumers, EventConsumer) else list(consumers)
    rng = rng or random.Random(0)
    order = list(range(len(events))) if order is None else list(order)
    if sorted(order) != list(range(len(events))):
        raise ValueError(f"order is not a permutation of 0..{len(events) - 1}: {order}")
    queue: deque[Delivery] = deque()
    for index in order:
        envelope, contract = events[index]
        for consumer in consumers:
            if envelope.type in consumer.handlers:
                queue.append(Delivery(consumer, envelope, contract))
    expected = {(d.consumer.spec.durable, d.envelope.event_id) for d in queue}
    for delivery in list(queue):  # redelivered copies, anywhere after the first one
        if duplicate_chance and rng.random() < duplicate_chance:
            first = next(i for i, d in enumerate(queue) if d is delivery)
            queue.insert(rng.randint(first + 1, len(queue)),
                         Delivery(delivery.consumer, delivery.envelope, delivery.contract))
    limit = max_failures if max_failures is not None else 20 + 3 * len(queue)
    report = DeliveryReport()
    stuck: list[Delivery] = []

    async def worker() -> None:
        while queue and not stuck:
            delivery = queue.popleft()
            try:
                outcome = await delivery.consumer.apply(delivery.envelope, delivery.contract)
            except Exception as exc:  # what the real consumer naks: try again later
                delivery.failures += 1
                delivery.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
                report.outcomes["retry"] += 1
                report.errors[type(exc).__name__] += 1
                if delivery.failures >= limit:
                    stuck.append(delivery)
                    return
                queue.append(delivery)
                # Backing off like the real consumer's nak delay: an event waiting for a
                # prerequisite must not burn its failures while the prerequisite's own apply is
                # still waiting for the database (SQLite's write lock on a busy machine).
                await asyncio.sleep(min(retry_sleep_s * 2 ** min(delivery.failures, 10), 0.1) * (0.5 + rng.random()))
                continue
            assert outcome in FINAL, outcome
            report.outcomes[outcome] += 1
            if outcome == "handled":
                report.handled[(delivery.consumer.spec.durable, delivery.envelope.event_id)] += 1

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    if stuck:
        waiting = "\n".join(
            f"  {d.consumer.spec.durable} {d.envelope.type} {d.envelope.event_id}: "
            f"{d.failures} failures, last {d.last_error}"
            for d in [*stuck, *queue]
        )
        raise AssertionError(
            f"livelock: a delivery failed {limit} times (order {order}, concurrency {concurrency}); "
            f"still waiting:\n{waiting}"
        )
    twice = {key: n for key, n in report.handled.items() if n > 1}
    assert not twice, f"events handled more than once (duplicates not absorbed): {twice}"
    missing = expected - set(report.handled)
    assert not missing, f"events never handled: {sorted(missing)}"
    return report


def _plain(value: Any) -> Any:
    """One comparable form: datetimes in UTC without a zone (SQLite hands them back naive),
    decimals and JSON text as themselves."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, Decimal):
        return str(value.normalize())
    return value


async def snapshot(
    session_factory,
    tables: Iterable[Table],
    *,
    exclude: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Each table as a sorted list of row dicts, without the columns named in
    ``exclude[table name]`` (those that depend on when an event was applied)."""
    exclude = {name: set(columns) for name, columns in (exclude or {}).items()}
    state: dict[str, list[dict[str, Any]]] = {}
    async with session_factory() as session:
        for table in tables:
            skip = exclude.get(table.name, set())
            unknown = skip - set(table.c.keys())
            if unknown:
                raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
            columns = [c for c in table.c if c.key not in skip]
            rows = (await (await session.connection()).execute(select(*columns))).mappings().all()
            plain = [{k: _plain(v) for k, v in row.items()} for row in rows]
            state[table.name] = sorted(plain, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return state


async def reset(engine, tables: Iterable[Table]) -> None:
    """Empty the tables (between examples: one migrated database per test, a clean slate each)."""
    tables = list(tables)
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        else:
            for table in reversed(sort_tables(tables)):  # referencing rows first (foreign keys are on)
                await conn.execute(table.delete())
            if (await conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"))).first():
                await conn.execute(text("DELETE FROM sqlite_sequence"))


@dataclass
class Rig:
    """One service's read models under test: its runtime (database migrated, no NATS), the
    consumers built with its handlers and ``runtime.uow``, the tables compared and the columns
    left out of the comparison (``{table name: {column, ...}}``, each with a reason in the test)."""

    runtime: Any
    consumers: list[EventConsumer]
    compared: list[Table]
    exclude: Mapping[str, Iterable[str]] = field(default_factory=dict)

    @classmethod
    async def start(cls, runtime, consumers: Sequence[tuple[Any, Mapping]], compared, exclude=None) -> Rig:
        """``consumers``: ``(ConsumerSpec, handlers)`` pairs, as the service's bootstrap adds them."""
        from kinerja_shared.db import create_tables
        from kinerja_shared.migrations import upgrade_database

        if runtime.migrations is not None:
            await upgrade_database(runtime.engine, runtime.migrations)
        else:
            await create_tables(runtime.engine, runtime.tables)
        built = [EventConsumer(spec, handlers, runtime.uow, runtime.settings) for spec, handlers in consumers]
        return cls(runtime, built, list(compared), exclude or {})

    async def state_after(self, events: Sequence[tuple[Envelope, Any]], **deliver_options) -> dict:
        """A clean slate, the events delivered (see :func:`deliver`), then the compared tables."""
        await reset(self.runtime.engine, self.runtime.tables)
        await deliver(self.consumers, events, **deliver_options)
        return await snapshot(self.runtime.session_factory, self.compared, exclude=self.exclude)

    async def stop(self) -> None:
        await self.runtime.engine.dispose()

    def __repr__(self) -> str:  # Hypothesis prints the fixtures of a failing example
        return f"Rig({', '.join(c.spec.durable for c in self.consumers)})"


def describe(events: Sequence[tuple[Envelope, Any]]) -> str:
    """One line per event (index, type, time, payload), for a failing example's report."""
    return "\n".join(
        f"  [{i}] {e.type} at {e.occurred_at.isoformat()}: {json.dumps(e.payload, sort_keys=True, default=str)[:400]}"
        for i, (e, _c) in enumerate(events)
    )


def differences(expected: dict, actual: dict) -> str:
    """Rows only in one of two snapshots, per table (for assertion messages)."""
    lines = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name, []), actual.get(name, [])
        if want == got:
            continue
        lines.append(f"{name}:")
        lines += [f"  natural only:  {row}" for row in want if row not in got]
        lines += [f"  permuted only: {row}" for row in got if row not in want]
    return "\n".join(lines)


def assert_same_state(natural: dict, other: dict, context: str = "") -> None:
    assert other == natural, f"read model differs from the natural order's {context}\n{differences(natural, other)}"


@dataclass
class History:
    """Generated events in publish order, each with the time it happened (also the envelope's).
    The properties add to one; Hypothesis prints it (``describe``) when an example fails."""

    region: str = "020500"
    events: list = field(default_factory=list)

    def __repr__(self) -> str:
        return f"History(\n{describe(self.events)}\n)"

    def add(self, contract: Any, at: datetime) -> None:
        from kinerja_shared.events import make_envelope

        envelope = make_envelope(contract, producer="test", region=self.region, correlation_id="prop", occurred_at=at)
        self.events.append((envelope, contract))


async def same_state_in_any_order(rig: Rig, events: Sequence[tuple[Envelope, Any]], data: Any) -> None:
    """The property itself: the state after the natural order equals the state after an order,
    a concurrency (2 to 4) and duplicate deliveries that Hypothesis draws from ``data``."""
    from hypothesis import strategies as st

    natural = await rig.state_after(events)
    order = data.draw(st.permutations(range(len(events))), label="order")
    concurrency = data.draw(st.integers(2, 4), label="concurrency")
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    permuted = await rig.state_after(events, order=order, concurrency=concurrency, duplicate_chance=0.25, rng=rng)
    assert_same_state(natural, permuted, f"(order {order}, concurrency {concurrency})")
