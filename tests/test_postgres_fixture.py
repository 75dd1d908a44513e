"""The `postgres_url` fixture runs a real PostgreSQL server, and says so when it cannot."""

from __future__ import annotations

import psycopg
import pytest

from tests.postgres import (
    PostgresUnavailable,
    postgres_url,  # noqa: F401  (a fixture: pytest finds it here)
    require_postgres,
)


def test_postgres_url_is_a_real_server(postgres_url: str) -> None:  # noqa: F811
    with psycopg.connect(postgres_url) as connection:
        connection.execute("CREATE TABLE fixture_check (id serial PRIMARY KEY, word text NOT NULL)")
        connection.execute("INSERT INTO fixture_check (word) VALUES (%s)", ("guild",))
        row = connection.execute("SELECT word, version() FROM fixture_check").fetchone()
    assert row is not None
    assert row[0] == "guild"
    assert row[1].startswith("PostgreSQL ")


def test_missing_binaries_skip_or_fail_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # An empty directory as the only place to look: as on a machine without the server.
    monkeypatch.setenv("SLMGUILD_POSTGRES_BINDIR", str(tmp_path))
    monkeypatch.delenv("SLMGUILD_REQUIRE_POSTGRES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        require_postgres()
    monkeypatch.setenv("SLMGUILD_REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install postgresql"):
        require_postgres()
    assert issubclass(PostgresUnavailable, RuntimeError)
