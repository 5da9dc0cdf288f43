"""idempotency keys

The shared Idempotency-Key store (kinerja_shared.idempotency): one row per (principal,
method, path, key), the stored answer, purged after the retention; claims are leases
renewed while the request runs (claim_token, lease_until). The table's steps are shared by
every service (kinerja_shared.migrations).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 12:37:53.268383

"""
from typing import Sequence, Union

from kinerja_shared.migrations import create_idempotency_keys, drop_idempotency_keys


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    create_idempotency_keys()


def downgrade() -> None:
    drop_idempotency_keys()
