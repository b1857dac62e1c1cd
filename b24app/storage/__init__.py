"""Persistence for portals, tokens and jobs (SQLAlchemy Core; SQLite or PostgreSQL)."""

from b24app.storage.db import Database
from b24app.storage.schema import metadata

__all__ = ["Database", "metadata"]
