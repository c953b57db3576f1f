"""`yo run` stops cleanly on SIGTERM (systemctl stop, docker stop), as on Ctrl-C (issue 18): exit 0,
the running training back in the queue with nothing lost, the database closed; the next start
finishes the job."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from tests.fakes.photos import photo
from tests.processes import until


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def start(env: dict[str, str], epochs: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env={**env, "YO_TRAIN_EPOCHS": str(epochs)},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return process.returncode, err


def test_sigterm_mid_training_exits_0_and_the_next_start_finishes_the_job(tmp_path: Path, tiny_model: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "YO_MODEL": str(tiny_model), "YO_DATA_DIR": str(data), "YO_DEVICE": "cpu",
           "TELEGRAM_BOT_TOKEN": "", "DISCORD_BOT_TOKEN": ""}
    photos = []
    for seed in range(3):
        photos.append(tmp_path / f"bo{seed}.jpg")
        photos[-1].write_bytes(photo((200, 120, 40), seed=seed))
    db = data / "yo.sqlite3"

    bot = start(env, epochs=500)
    assert bot.stdin is not None
    bot.stdin.write("/teach Bo " + " ".join(map(str, photos)) + "\n")
    bot.stdin.flush()
    until(lambda: db.exists() and rows(db, "SELECT state FROM jobs") == [("running",)], 180, "training to start")
    code, err = stop(bot)
    assert code == 0, err[-3000:]
    assert not Path(f"{db}-wal").exists(), "the database was not closed (its WAL is left)"
    assert rows(db, "SELECT state, attempts FROM jobs") == [("queued", 0)], "handed back, its attempt not spent"
    assert rows(db, "SELECT status FROM concepts") == [("queued",)]
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert (data / "console-history").exists(), "the terminal's history was not written"

    bot = start(env, epochs=2)
    try:
        until(lambda: rows(db, "SELECT state FROM jobs") == [("done",)], 180, "the job to finish after the restart")
    finally:
        code, err = stop(bot)
    assert code == 0, err[-3000:]
    assert rows(db, "SELECT state, attempts FROM jobs") == [("done", 1)]
    assert rows(db, "SELECT status FROM concepts") == [("ready",)]
