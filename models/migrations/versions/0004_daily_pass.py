"""daily pass

One row per once-a-day pass (today: the 18/24-month milestone check), holding the last
local day it ran. The scan claims the day with a compare-and-set on this row, so the check
runs once a day in whichever process gets there first instead of on every scan pass.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'daily_pass',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('daily_pass')
