"""Alembic environment: the URL comes from the caller's config or from the settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from moderation.config import get_settings
from moderation.db.models import Base

config = context.config
target_metadata = Base.metadata
# moderation.db.session.upgrade's on_step (a progress bar), when its caller gave one.
on_version_apply = config.attributes.get("on_version_apply")


def url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url


def run_offline() -> None:
    context.configure(url=url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=url().startswith("sqlite"),
                      on_version_apply=on_version_apply)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    section = {"sqlalchemy.url": url()}
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # A migration waiting on a lock must not stall the service behind it.
            connection.exec_driver_sql("SET lock_timeout = '10s'")
            connection.exec_driver_sql("SET statement_timeout = '300s'")
            # End the implicit transaction the SETs opened (the settings stay for the session):
            # Alembic commits only a transaction it began itself.
            connection.commit()
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite",
                          compare_type=True, on_version_apply=on_version_apply)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
