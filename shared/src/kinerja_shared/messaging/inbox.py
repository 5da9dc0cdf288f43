"""Inbox: the record that a consumer has applied an event.

The row is claimed *before* the handler runs, in the handler's own transaction: an
``INSERT ... ON CONFLICT DO NOTHING`` on ``(consumer, event_id)``. If it inserts nothing, the
event is already applied (or being applied by another replica, whose transaction we waited
for) and is acknowledged without running again. Because only a clash on that key can mean
"duplicate", any other integrity error from the handler is a real conflict and is retried.

On SQLite the claim is also the transaction's first write, so the handler runs holding the
write lock: its reads cannot be overtaken by another handler's commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox_messages"

    consumer: str = Field(primary_key=True, max_length=128)
    event_id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(max_length=128)
    processed_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


INBOX = InboxMessage.__table__


async def claim(session: AsyncSession, consumer: str, events: Sequence[tuple[str, str]]) -> set[str]:
    """Claim ``(event_id, event_type)`` pairs for ``consumer``; return the ids this transaction
    now owns. Ids already in the inbox (committed, or committed meanwhile by a concurrent claim
    we waited for) are not returned."""
    if not events:
        return set()
    connection = await session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    now = datetime.now(timezone.utc)
    rows = [{"consumer": consumer, "event_id": e, "event_type": t, "processed_at": now} for e, t in events]
    statement = (
        insert(INBOX).values(rows)
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(INBOX.c.event_id)
    )
    return set((await connection.execute(statement)).scalars())
