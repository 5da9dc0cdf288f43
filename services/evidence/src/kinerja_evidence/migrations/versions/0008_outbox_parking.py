"""outbox parking

``outbox_messages.parked_at`` and ``parked_reason``: the relay parks a row NATS cannot take
(too large, refused, failing KINERJA_OUTBOX_MAX_ATTEMPTS times) and publishes the rest. The
steps are shared by every service (kinerja_shared.migrations).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 15:10:00.000000

"""
from typing import Sequence, Union

from kinerja_shared.migrations import add_outbox_parking, drop_outbox_parking


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    add_outbox_parking()


def downgrade() -> None:
    drop_outbox_parking()
