"""Alembic's entry point for the ``alembic`` command (writing revisions); the app itself
migrates through ``b24app.storage.migrate`` and never loads this file."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from b24app.storage.db import normalize_url
from b24app.storage.migrate import configure

url = normalize_url(os.environ.get("DATABASE_URL", "sqlite:///instance/b24app.sqlite3"))
engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
with engine.connect() as connection:
    configure(context, connection)
    with context.begin_transaction():
        context.run_migrations()
