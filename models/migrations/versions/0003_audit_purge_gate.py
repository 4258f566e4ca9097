"""audit purge gate

The audit trail stays append-only, with one door: `irobot audit purge` may DELETE whole
months past the policy's retention. Every UPDATE and every other DELETE is still refused by
the database itself, and TRUNCATE is refused on PostgreSQL too (it bypasses row triggers).

- PostgreSQL: the trigger function lets a DELETE through only when the transaction has set
  `SET LOCAL irobot.purge = 'on'`; the setting ends with the transaction, so the door closes
  by itself on commit or rollback.
- SQLite: the DELETE trigger gains `WHEN NOT EXISTS (SELECT 1 FROM audit_purge_gate)`; the
  purge inserts the gate row and deletes it again in the same transaction (SQLite has one
  writer, so nobody else ever sees it).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

REFUSED = 'auditevent is append-only'


def upgrade() -> None:
    op.create_table(
        'audit_purge_gate',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS auditevent_no_delete')
        op.execute(
            'CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent '
            'WHEN NOT EXISTS (SELECT 1 FROM audit_purge_gate) '
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        )
    elif dialect == 'postgresql':
        op.execute(
            'CREATE OR REPLACE FUNCTION auditevent_append_only() RETURNS trigger '
            'LANGUAGE plpgsql AS $$ BEGIN '
            "IF TG_OP = 'DELETE' AND current_setting('irobot.purge', true) = 'on' THEN "
            'RETURN OLD; END IF; '
            f"RAISE EXCEPTION '{REFUSED}'; END $$"
        )
        op.execute(
            'CREATE TRIGGER auditevent_no_truncate BEFORE TRUNCATE ON auditevent '
            'FOR EACH STATEMENT EXECUTE FUNCTION auditevent_append_only()'
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS auditevent_no_delete')
        op.execute(
            'CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent '
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        )
    elif dialect == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS auditevent_no_truncate ON auditevent')
        op.execute(
            'CREATE OR REPLACE FUNCTION auditevent_append_only() RETURNS trigger '
            'LANGUAGE plpgsql AS $$ BEGIN '
            f"RAISE EXCEPTION '{REFUSED}'; END $$"
        )
    op.drop_table('audit_purge_gate')
