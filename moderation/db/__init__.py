"""The moderation database: SQLAlchemy models, sessions, and the functions that write verdicts."""
