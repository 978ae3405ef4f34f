"""Shared fixtures: every storage kind, including a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.postgres import find_pg_bin, postgres_server
from tunelab.storage import (
    BaseStorage,
    InMemoryStorage,
    JournalFileBackend,
    JournalStorage,
    SQLStorage,
)

STORAGE_KINDS = ["memory", "sqlite", "postgres", "journal"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL server started for this test session."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries (pg_ctl, initdb) are not installed on this machine")
    with postgres_server() as url:
        yield url


def _fresh_postgres_db(server_url: str, name: str) -> str:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


_db_counter = iter(range(10**9))


@pytest.fixture
def storage_url_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """Make an empty database URL of a kind ('sqlite' or 'postgres')."""

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'db{next(_db_counter)}.sqlite'}"
        server = request.getfixturevalue("postgres_url")
        return _fresh_postgres_db(server, f"t{next(_db_counter)}")

    return make


@pytest.fixture(params=STORAGE_KINDS)
def storage(
    request: pytest.FixtureRequest, storage_url_factory: Callable[[str], str], tmp_path: Path
) -> Iterator[BaseStorage]:
    """One storage of each kind, empty."""
    if request.param == "memory":
        backend: BaseStorage = InMemoryStorage()
    elif request.param == "journal":
        backend = JournalStorage(JournalFileBackend(tmp_path / f"journal{next(_db_counter)}.log"))
    else:
        backend = SQLStorage(storage_url_factory(request.param))
    yield backend
    backend.close()
