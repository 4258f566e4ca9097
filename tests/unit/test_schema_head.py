"""The schema check's head revision is the newest migration in the folder."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from models.db import HEAD_REVISION, alembic_config


def test_the_known_head_revision_is_the_migrations_folder_s_only_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [HEAD_REVISION], (
        f"models/db.py HEAD_REVISION is {HEAD_REVISION!r} but the migrations end at {heads}: "
        "set it to the new migration's revision"
    )
