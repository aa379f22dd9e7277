"""Apply the prediction-log migrations (Alembic, programmatic) to a database URL.

CLI: ``python -m model_serving.prediction_log.migrate`` brings ``SERVING_MIGRATE_DATABASE_URL``
(or ``SERVING_DATABASE_URL``) to head, retrying a database that is not reachable yet for up to
``--wait`` seconds: compose's one-shot ``app-migrate``, the only holder of the DDL account.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection

from platform_processes.logging_config import configure_logging

logger = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the bundled migrations and ``url`` (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def prepare_sqlite_folder(url: str) -> None:
    """Create the parent folder of a file-based SQLite database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    """An engine suitable for the writer thread and the feedback look-ups."""
    prepare_sqlite_folder(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 5})
        # SQLite checks foreign keys only when asked, per connection: ask, so that a feedback
        # row for a missing prediction fails here as it does on MySQL.
        event.listen(engine, "connect", _sqlite_foreign_keys)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_recycle=1800, pool_size=4)


def _sqlite_foreign_keys(dbapi_connection: DBAPIConnection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def upgrade(url: str, engine: Engine | None = None) -> None:
    """Bring the database at ``url`` to the latest schema revision."""
    prepare_sqlite_folder(url)
    config = alembic_config(url)
    engine = engine or make_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    logger.info("prediction log schema at head (%s)", make_url(url).get_backend_name())


def main(argv: list[str] | None = None) -> int:
    from model_serving.settings import ServingSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to retry a down database")
    args = parser.parse_args(argv)
    configure_logging()
    settings = ServingSettings()
    url = settings.migrate_database_url or settings.database_url
    deadline = time.monotonic() + args.wait
    while True:
        try:
            upgrade(url)
            return 0
        except Exception as exc:  # an unreachable database and a refused DDL alike
            if time.monotonic() >= deadline:
                logger.error("prediction log migration failed: %s", exc)
                return 1
            logger.warning("prediction log migration not possible yet (%s); retrying", exc)
            time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
