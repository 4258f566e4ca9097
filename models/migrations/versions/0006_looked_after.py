"""looked-after reviews and conferences held in time

The rest of the reviewing service (issue 12): looked-after children's reviews, conference
timeliness and records.

- `care`: one row per period in care of a looked-after child (the `care` import), keyed by
  `period_id` (`CASE@entered_on`).
- `review`: looked-after reviews (the `reviews` import): the social worker's report before,
  the IRO's decisions and record after, and a stand-down in chat like a conference's.
- `conference.strategy_on` (an ICPC's strategy discussion) and `conference.record_sent_at`
  (the record and plan to the family).

Every existing row keeps its values: the new conference columns are nullable. SQLite adds
them through batch mode like 0005.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, models.types.UTCDateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'care',
        _text('period_id', 80, nullable=False),
        _text('case_ref', 64, nullable=False),
        _text('social_worker_id', 64, nullable=False),
        _text('iro_id', 64, nullable=False),
        sa.Column('entered_on', sa.Date(), nullable=False),
        sa.Column('left_on', sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint('period_id'),
    )
    with op.batch_alter_table('care', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_care_case_ref'), ['case_ref'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_care_social_worker_id'), ['social_worker_id'], unique=False
        )
        batch_op.create_index(batch_op.f('ix_care_iro_id'), ['iro_id'], unique=False)
    op.create_table(
        'review',
        _text('review_id', 64, nullable=False),
        _text('case_ref', 64, nullable=False),
        _ts('scheduled_for', nullable=False),
        _text('iro_id', 64),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                  server_default='scheduled'),
        _text('reason', 32),
        _ts('report_received_at'),
        sa.Column('held_on', sa.Date(), nullable=True),
        _ts('decisions_uploaded_at'),
        _ts('record_uploaded_at'),
        _ts('stood_down_for'),
        _text('stood_down_reason', 32),
        sa.PrimaryKeyConstraint('review_id'),
    )
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_case_ref'), ['case_ref'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_review_scheduled_for'), ['scheduled_for'], unique=False
        )
    with op.batch_alter_table('conference', schema=None) as batch_op:
        batch_op.add_column(sa.Column('strategy_on', sa.Date(), nullable=True))
        batch_op.add_column(_ts('record_sent_at'))


def downgrade() -> None:
    with op.batch_alter_table('conference', schema=None) as batch_op:
        batch_op.drop_column('record_sent_at')
        batch_op.drop_column('strategy_on')
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_scheduled_for'))
        batch_op.drop_index(batch_op.f('ix_review_case_ref'))
    op.drop_table('review')
    with op.batch_alter_table('care', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_care_iro_id'))
        batch_op.drop_index(batch_op.f('ix_care_social_worker_id'))
        batch_op.drop_index(batch_op.f('ix_care_case_ref'))
    op.drop_table('care')
