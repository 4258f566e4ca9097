"""telegram ids bigint

Telegram user and chat ids run to 52 bits (user 6123456789, supergroup -1001234567890):
a 32-bit INTEGER column refuses them on PostgreSQL. The columns change type in place and
keep their rows, unique constraints and indexes. SQLite stores any integer in 64 bits
already, so there the change is cosmetic: batch mode copies the table and its indexes (the
audit triggers live on `auditevent`, which is not touched).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# table -> [(column, nullable)]: every column that holds a Telegram user or chat id.
# `notification.telegram_message_id` stays INTEGER: message ids count up within one chat.
TELEGRAM_ID_COLUMNS: dict[str, list[tuple[str, bool]]] = {
    'invite': [('used_by', True)],
    'linkattempt': [('telegram_user_id', False)],
    'notification': [('chat_id', True)],
    'staff': [('telegram_user_id', True), ('chat_id', True)],
}


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    for table, columns in TELEGRAM_ID_COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, nullable in columns:
                batch_op.alter_column(
                    column, existing_type=old, type_=new, existing_nullable=nullable
                )


def upgrade() -> None:
    _drop_linkattempt_sequence()
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    # On PostgreSQL this fails (and changes nothing) while any stored id is past 2**31.
    _retype(sa.BigInteger(), sa.Integer())
    _restore_linkattempt_sequence()


def _drop_linkattempt_sequence() -> None:
    """0001 made `linkattempt.telegram_user_id` a SERIAL on PostgreSQL; the id is Telegram's."""
    if op.get_bind().dialect.name != 'postgresql':
        return
    sequence = op.get_bind().execute(
        sa.text("SELECT pg_get_serial_sequence('linkattempt', 'telegram_user_id')")
    ).scalar()
    if sequence:
        op.execute('ALTER TABLE linkattempt ALTER COLUMN telegram_user_id DROP DEFAULT')
        op.execute(f'DROP SEQUENCE {sequence}')


def _restore_linkattempt_sequence() -> None:
    """Put back the SERIAL default 0001 created, so a downgrade leaves 0001's schema."""
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        'CREATE SEQUENCE linkattempt_telegram_user_id_seq AS integer '
        'OWNED BY linkattempt.telegram_user_id'
    )
    op.execute(
        'ALTER TABLE linkattempt ALTER COLUMN telegram_user_id '
        "SET DEFAULT nextval('linkattempt_telegram_user_id_seq'::regclass)"
    )
