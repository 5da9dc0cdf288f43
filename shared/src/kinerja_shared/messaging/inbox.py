"""Inbox: the record that a consumer has applied an event, written in the same transaction
as the handler's effects. A redelivered event finds its row and is acknowledged without
running again; two replicas racing on the same event collide on the primary key and one rolls
back."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import Field, SQLModel


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox_messages"

    consumer: str = Field(primary_key=True, max_length=128)
    event_id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(max_length=128)
    processed_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
