"""The Alembic environment and its revisions, installed as ``moderation.migrations``."""
