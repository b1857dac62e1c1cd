"""Alembic revisions of the app's schema, applied by ``b24app db upgrade``."""
