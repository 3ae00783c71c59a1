"""Alembic environment: runs against the engine handed over in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from publisher.core.models import Base, declared

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only when alembic is run by hand
    from publisher.core.db import make_engine
    from publisher.core.settings import Settings

    engine = make_engine(Settings.from_env().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=declared,  # autogenerate leaves migration 0014's text search alone
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
