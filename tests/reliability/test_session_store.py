"""Faults of the session store: locked by another process while a turn saves, and the
disk filling up while a turn saves. Either ends the turn with a clear `SessionStoreError`;
nothing of that turn is written, the earlier turns stay intact, the database passes
SQLite's integrity check, and the next turn works once the fault is gone.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from slmguild.orchestrator.sessions import SessionStoreError
from tests.test_orchestrator import scripted_guild

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "please reset my vpn password"


def saved_questions(tmp_path: Path, session: str = "a") -> list[str]:
    """The questions of `session` in the store of `tmp_path`, read back by a fresh guild."""
    return [turn.message for turn in scripted_guild(tmp_path).session(session)["traces"]]


def integrity(store: Path) -> str:
    with sqlite3.connect(store) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def test_a_store_locked_while_a_turn_saves_is_a_clear_error_and_keeps_nothing_of_the_turn(tmp_path):
    store = tmp_path / "sessions.sqlite"
    guild = scripted_guild(tmp_path, turns=3)
    guild.config.sessions.lock_timeout_s = 0.3
    guild.run(f"{QUESTION} 1", session="a")

    other_process = sqlite3.connect(store, isolation_level=None)
    other_process.execute("BEGIN EXCLUSIVE")  # holds the write lock, as a long write would
    try:
        with pytest.raises(SessionStoreError, match="is locked by another process.*nothing of this turn was saved"):
            guild.run(f"{QUESTION} 2", session="a")
    finally:
        other_process.execute("ROLLBACK")
        other_process.close()

    assert [turn.message for turn in guild.session("a")["traces"]] == [f"{QUESTION} 1"]
    guild.run(f"{QUESTION} 3", session="a")  # the lock is gone: the same guild goes on
    assert saved_questions(tmp_path) == [f"{QUESTION} 1", f"{QUESTION} 3"]
    assert integrity(store) == "ok"


# Runs in a child process: the file-size limit that simulates a full disk is per process.
FILL_THE_DISK = textwrap.dedent("""\
    import resource, signal, sys
    from pathlib import Path
    from slmguild.orchestrator.sessions import SessionStoreError
    from tests.test_orchestrator import scripted_guild

    folder = Path(sys.argv[1])
    guild = scripted_guild(folder, turns=4)
    for n in range(3):
        guild.run(f"please reset my vpn password {n}", session="a")
    # From here no file may grow: a write past its end fails with EFBIG, as on a full disk
    # (the signal the kernel sends first would kill the process instead).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = max(path.stat().st_size for path in folder.glob("sessions.sqlite*"))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        guild.run("please reset my vpn password " + "x" * 5000, session="a")
    except SessionStoreError as exc:
        print(exc)
        sys.exit(3)
    """)


def test_a_disk_full_while_a_turn_saves_leaves_the_store_intact(tmp_path):
    child = subprocess.run([sys.executable, "-c", FILL_THE_DISK, str(tmp_path)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300, check=False)
    assert child.returncode == 3, child.stderr[-3000:]
    assert "is the disk full? Nothing of this turn was saved; the earlier turns are intact" in child.stdout

    store = tmp_path / "sessions.sqlite"
    assert integrity(store) == "ok"
    asked = [f"{QUESTION} {n}" for n in range(3)]
    assert saved_questions(tmp_path) == asked
    guild = scripted_guild(tmp_path)  # space again: the next turn is saved after the others
    guild.run(f"{QUESTION} 3", session="a")
    assert saved_questions(tmp_path) == [*asked, f"{QUESTION} 3"]
