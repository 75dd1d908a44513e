"""A real, throwaway PostgreSQL server for tests (LangGraph's Postgres checkpointer needs one).

`running_postgres(directory)` creates a cluster in `directory` with the installed server
binaries (initdb, pg_ctl, postgres), starts it on a free port of 127.0.0.1 and yields a
psycopg-ready URL; it stops the server on exit. The `postgres_url` fixture wraps it for a
whole test session; a conftest or test module imports it to use it:

    from tests.postgres import postgres_url  # noqa: F401

Where the binaries are missing the fixture skips, unless SLMGUILD_REQUIRE_POSTGRES=1 (CI
sets it) makes it fail, so that CI can never silently skip the Postgres tests.
SLMGUILD_POSTGRES_BINDIR, if set, is the only place looked in for the binaries (for a
non-standard install, or to test the missing-binaries path with an empty directory).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

INSTALL_HINT = "install the server: apt-get install postgresql (Debian/Ubuntu)"
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "postgres"  # the cluster's superuser, whoever runs the server
SYSTEM_USER = "postgres"  # the unprivileged account Debian's package creates


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries (or no user allowed to run them) on this machine."""


def server_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres.

    Looked for in: `pg_config --bindir` (Debian's pg_config can come from libpq-dev
    alone, hence the check that the server is really there), the newest
    /usr/lib/postgresql/*/bin (Debian keeps the server off PATH), then PATH.
    """
    if "SLMGUILD_POSTGRES_BINDIR" in os.environ:
        candidates = [Path(os.environ["SLMGUILD_POSTGRES_BINDIR"])]
    else:
        candidates = []
        if pg_config := shutil.which("pg_config"):
            result = subprocess.run(
                [pg_config, "--bindir"], check=False, capture_output=True, text=True
            )
            if result.returncode == 0:
                candidates.append(Path(result.stdout.strip()))
        versions = Path("/usr/lib/postgresql").glob("*/bin")
        candidates += sorted(versions, key=lambda p: _version(p.parent.name), reverse=True)
        if initdb := shutil.which("initdb"):
            candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in SERVER_BINARIES):
            return bindir
    raise PostgresUnavailable(
        f"no PostgreSQL server binaries (initdb, pg_ctl) found; {INSTALL_HINT}"
    )


def _version(name: str) -> tuple[int, ...]:
    """'15' -> (15,), '9.6' -> (9, 6): so that 15 sorts after 9.6."""
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _run_as_prefix() -> list[str]:
    """What to put before a server command: PostgreSQL refuses to run as root, so as root
    run it as Debian's unprivileged `postgres` user; otherwise run it as ourselves."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and PostgreSQL refuses root: no '{SYSTEM_USER}' user to "
            f"run it as; {INSTALL_HINT} creates one"
        ) from None
    if runuser := shutil.which("runuser"):
        return [runuser, "-u", SYSTEM_USER, "--"]
    # su runs its command through a shell; `exec "$0" "$@"` passes our arguments through intact.
    return ["su", SYSTEM_USER, "-s", "/bin/sh", "-c", 'exec "$0" "$@"']


def _free_port() -> int:
    """A port free now on 127.0.0.1 (another process could take it before the server
    does, which is unlikely enough for tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _conf_value(value: object) -> str:
    """A postgresql.conf string literal."""
    return "'" + str(value).replace("'", "''") + "'"


@contextmanager
def running_postgres(directory: Path) -> Iterator[str]:
    """Run a new PostgreSQL cluster in `directory` (empty or not yet existing) and yield
    its URL, `postgresql://postgres@127.0.0.1:PORT/postgres` (trust auth: no password).

    The server listens on 127.0.0.1 and on a unix socket in `directory` (so keep the path
    short: socket paths are limited to about 100 characters). As root, `directory` is
    given to the `postgres` user, who must also be able to reach it: every parent must
    be searchable by others (tempfile.mkdtemp() under /tmp is; pytest's tmp_path under
    /tmp/pytest-of-root, mode 0700, is not).
    """
    bindir, prefix = server_bindir(), _run_as_prefix()
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if prefix:
        shutil.chown(directory, SYSTEM_USER, SYSTEM_USER)

    def server_command(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # cwd=directory: the postgres user may not be allowed into our current directory.
        command = [*prefix, *args]
        result = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:  # with its output, which CalledProcessError hides
            raise RuntimeError(f"{shlex.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    if server_command("test", "-w", str(directory), check=False).returncode != 0:
        raise RuntimeError(
            f"user {SYSTEM_USER!r} cannot write {directory}: are its parents searchable?"
        )

    data, log = directory / "data", directory / "postgres.log"
    # --locale=C: a container's LANG may name a locale that is not generated.
    initdb = [str(bindir / "initdb"), "--pgdata", str(data), "--username", SUPERUSER]
    server_command(*initdb, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
    port = _free_port()
    with open(data / "postgresql.conf", "a") as conf:
        # Settings here rather than pg_ctl -o "...", which goes through a shell unquoted.
        conf.write(
            f"listen_addresses = '127.0.0.1'\nport = {port}\n"
            f"unix_socket_directories = {_conf_value(directory)}\n"
            "fsync = off\nfull_page_writes = off\n"
        )  # throwaway data: speed over safety
    pg_ctl = [str(bindir / "pg_ctl"), "--pgdata", str(data)]
    try:
        # -w: return only once the server accepts connections (or give up after -t seconds).
        started = server_command(*pg_ctl, "--log", str(log), "-w", "-t", "60", "start", check=False)
        if started.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            raise RuntimeError(
                f"PostgreSQL did not start:\n{started.stdout}{started.stderr}{server_log}"
            )
        yield f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
    finally:
        # Always, even when the test failed or the start half-worked; -m fast: disconnect clients.
        server_command(*pg_ctl, "-m", "fast", "-w", "stop", check=False)


def require_postgres() -> None:
    """Skip the test where no server can be run, or fail it under SLMGUILD_REQUIRE_POSTGRES=1."""
    try:
        server_bindir()
        _run_as_prefix()
    except PostgresUnavailable as exc:
        if os.environ.get("SLMGUILD_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{exc} (SLMGUILD_REQUIRE_POSTGRES=1: the Postgres tests must run)")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a real PostgreSQL server started for this test session, e.g.
    `postgresql://postgres@127.0.0.1:54321/postgres`; each test should use its own tables."""
    require_postgres()
    # mkdtemp under /tmp, not tmp_path_factory: as root, the postgres user must reach it.
    with (
        tempfile.TemporaryDirectory(prefix="slmguild-pg-") as directory,
        running_postgres(Path(directory)) as url,
    ):
        yield url
