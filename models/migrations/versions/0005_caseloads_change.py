"""caseloads change

Real caseloads change every day (issue 11): people are away and covered, work part time and
leave; conferences are cancelled or stood down; a service goes live on plans years old.

- `absence`: leave and sickness with who covers (the `absences` import and `/cover`).
- `golive`: when the service first imported; what fell due before it is backlog to confirm.
  A database that already holds data went live with its first import: the earliest audited
  import, else the earliest obligation.
- `staff.working_days` (part-time staff), `plan.reviewed_on` (the 9-month review as the case
  system recorded it), `conference.status` / `reason` (the export's) and `stood_down_for` /
  `stood_down_reason` (stood down in chat), `obligation.acknowledged_stage` (a stage holder's
  Acknowledge, for their one reminder) and `obligation.backlog`.

Every existing row keeps its values: new columns are nullable or have a server default
(`conference.status` is `scheduled`, `obligation.backlog` false). SQLite adds them through
batch mode like 0002.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _ts(name: str) -> sa.Column:
    return sa.Column(name, models.types.UTCDateTime(timezone=True), nullable=True)


def _text(name: str, length: int) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=True)


def upgrade() -> None:
    op.create_table(
        'absence',
        sa.Column('absence_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('staff_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        _text('cover_id', 64),
        _ts('ended_at'),
        _ts('cover_told_at'),
        _ts('return_told_at'),
        sa.PrimaryKeyConstraint('absence_id'),
    )
    with op.batch_alter_table('absence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_absence_staff_id'), ['staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_absence_ends_on'), ['ends_on'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_absence_return_told_at'), ['return_told_at'], unique=False
        )
    op.create_table(
        'golive',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(_text('working_days', 40))
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reviewed_on', sa.Date(), nullable=True))
    with op.batch_alter_table('conference', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                      server_default='scheduled')
        )
        batch_op.add_column(_text('reason', 32))
        batch_op.add_column(_ts('stood_down_for'))
        batch_op.add_column(_text('stood_down_reason', 32))
    with op.batch_alter_table('obligation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_stage', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('backlog', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _went_live_with_the_first_import()


def _went_live_with_the_first_import() -> None:
    """A database holding data went live then: its earliest import, else earliest obligation."""
    bind = op.get_bind()
    first = bind.execute(
        sa.text("SELECT MIN(at) FROM auditevent WHERE action = 'import'")
    ).scalar()
    if first is None:
        first = bind.execute(sa.text('SELECT MIN(created_at) FROM obligation')).scalar()
    if first is not None:
        bind.execute(sa.text('INSERT INTO golive (id, at) VALUES (1, :at)'), {'at': first})


def downgrade() -> None:
    with op.batch_alter_table('obligation', schema=None) as batch_op:
        batch_op.drop_column('backlog')
        batch_op.drop_column('acknowledged_stage')
    with op.batch_alter_table('conference', schema=None) as batch_op:
        batch_op.drop_column('stood_down_reason')
        batch_op.drop_column('stood_down_for')
        batch_op.drop_column('reason')
        batch_op.drop_column('status')
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.drop_column('reviewed_on')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('working_days')
    op.drop_table('golive')
    with op.batch_alter_table('absence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_absence_return_told_at'))
        batch_op.drop_index(batch_op.f('ix_absence_ends_on'))
        batch_op.drop_index(batch_op.f('ix_absence_staff_id'))
    op.drop_table('absence')
