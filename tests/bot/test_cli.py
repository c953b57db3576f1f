"""`yo` as a user runs it: real processes, a tiny model, the real worker and store."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.photos import photo


def yo(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def env(tmp_path: Path, tiny_model: Path) -> dict[str, str]:
    return {**os.environ, "YO_MODEL": str(tiny_model), "YO_DATA_DIR": str(tmp_path / "data"),
            "YO_DEVICE": "cpu", "YO_TRAIN_EPOCHS": "1", "TELEGRAM_BOT_TOKEN": "", "DISCORD_BOT_TOKEN": ""}


def test_teach_ask_concepts_forget_with_json(tmp_path: Path, env: dict[str, str]) -> None:
    photos = []
    for seed in range(3):
        path = tmp_path / f"bo{seed}.jpg"
        path.write_bytes(photo((200, 120, 40), seed=seed))
        photos.append(str(path))

    taught = yo("teach", "Bo", *photos, "--json", env=env)
    assert taught.returncode == 0, taught.stderr
    assert json.loads(taught.stdout) == {"name": "Bo", "status": "ready"}

    asked = yo("ask", "is Bo in this?", "--image", photos[0], "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert set(answer["recognition"]) == {"Bo"}
    assert isinstance(answer["recognition"]["Bo"]["present"], bool)
    assert 0.0 <= answer["recognition"]["Bo"]["probability"] <= 1.0
    assert answer["recognition"]["Bo"]["quick_look"] is False
    # The chat's answer to the question, saying what the recognition says (the tiny model's is random).
    said = "Yes, Bo is in this photo" if answer["recognition"]["Bo"]["present"] else "No, I don't think Bo is"
    assert answer["answer"].startswith(said), answer

    listed = yo("concepts", "--json", env=env)
    assert json.loads(listed.stdout) == [{"name": "Bo", "status": "ready"}]
    other = yo("concepts", "--json", "--user", "someone-else", env=env)
    assert json.loads(other.stdout) == []

    exported = yo("export", "--out", str(tmp_path / "mine.zip"), "--json", env=env)
    assert exported.returncode == 0, exported.stderr
    import zipfile
    with zipfile.ZipFile(tmp_path / "mine.zip") as archive:
        names = archive.namelist()
    assert "data.json" in names and sum(n.startswith("photos/") for n in names) == 3
    assert any(n.endswith(".safetensors") for n in names)

    forgotten = yo("forget", "Bo", "--json", env=env)
    assert json.loads(forgotten.stdout) == {"name": "Bo", "forgotten": True}
    assert json.loads(yo("concepts", "--json", env=env).stdout) == []
    assert not [p for p in (Path(env["YO_DATA_DIR"]) / "photos").rglob("*") if p.is_file()]


def test_failures_exit_non_zero_with_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("hello")
    for args in (("teach", "Bo", str(not_a_photo)), ("teach", "<image>", str(not_a_photo)),
                 ("forget", "Nobody"), ("teach", "Bo", str(tmp_path / "missing.jpg"))):
        result = yo(*args, "--json", env=env)
        assert result.returncode != 0, args
        assert result.stdout == ""
        [line] = result.stderr.strip().splitlines()  # with --json, one JSON object
        assert json.loads(line)["exit_code"] == result.returncode, result.stderr
        result = yo(*args, env=env)
        assert result.returncode != 0, args
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("yo: "), result.stderr
    assert json.loads(yo("concepts", "--json", env=env).stdout) == []


def test_run_without_a_model_says_what_is_missing(tmp_path: Path, env: dict[str, str]) -> None:
    for model, reason in ((str(tmp_path / "nowhere-model"), "is no folder on this machine"),
                          ("llava-hf/llava-1.5-13b-hf", "isn't downloaded and HF_HUB_OFFLINE=1 forbids fetching it")):
        result = yo("run", env={**env, "YO_MODEL": model, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
        assert result.returncode == 3, result.stderr  # the model is not available
        assert reason in result.stderr and "yo run --smoke" in result.stderr


def test_smoke_run_works_with_nothing_downloaded(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run", "--smoke"], env={**env, "YO_MODEL": "x/y"},
                            input="/help\nhello there\n", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Teach me: /teach Bo" in result.stdout
    assert "[smoke run: a tiny random model, answers mean nothing]" in result.stdout


def _one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("yo: "), result.stderr
    return result.stderr.strip()


def test_asking_about_a_file_that_is_no_photo_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    empty, text = tmp_path / "zero.jpg", tmp_path / "notes.jpg"
    empty.write_bytes(b"")
    text.write_text("my dog Bo is the best dog in the world\n" * 10)
    assert "empty" in _one_line_failure(yo("ask", "is Bo in this?", "--image", str(empty), env=env))
    said = _one_line_failure(yo("ask", "is Bo in this?", "--image", str(text), env=env))
    assert "looks like a text file" in said


def test_export_to_a_folder_that_does_not_exist_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "nowhere" / "x.zip"
    asyncio.run(_seen(Path(env["YO_DATA_DIR"]), "console", "local"))
    said = _one_line_failure(yo("export", "--out", str(out), env=env))
    assert said == f"yo: can't write {out}: No such file or directory"


def test_a_huge_local_photo_is_refused_by_name_without_reading_it(tmp_path: Path, env: dict[str, str]) -> None:
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as f:
        f.truncate(2 * 1024**3)  # sparse: reading it whole would cost 2 GB of memory
    said = _one_line_failure(yo("teach", "Bo", str(huge), env=env))
    assert str(huge) in said and "too big (2048 MB)" in said and "up to 20 MB" in said


async def _seen(data_dir: Path, platform: str, user_id: str) -> None:
    """A user Yo has met, with nothing taught."""
    from storage import Store

    store = await Store.open(data_dir)
    try:
        await store.get_or_create_user(platform, user_id)
    finally:
        await store.close()


def _rows(data_dir: Path) -> dict[str, int]:
    with sqlite3.connect(data_dir / "yo.sqlite3") as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("users", "chats", "concepts", "jobs")}


def test_store_verbs_need_no_model_and_write_nothing(tmp_path: Path) -> None:
    """Issue 22 (9) and 17 (3): listing, forgetting and exporting work with no model at all, start
    no training, and a user never seen is not created by looking."""
    data = tmp_path / "data"
    env = {**os.environ, "YO_MODEL": str(tmp_path / "no-such-model"), "YO_DATA_DIR": str(data),
           "HF_HUB_OFFLINE": "1", "TELEGRAM_BOT_TOKEN": "", "DISCORD_BOT_TOKEN": ""}
    listed = yo("concepts", "--json", "--user", "ghost", env=env, timeout=60)
    assert (listed.returncode, listed.stdout.strip()) == (0, "[]"), listed.stderr
    assert _rows(data) == {"users": 0, "chats": 0, "concepts": 0, "jobs": 0}
    forgot = yo("forget", "Bo", "--json", env=env, timeout=60)
    assert forgot.returncode == 1, forgot.stderr
    assert json.loads(forgot.stderr) == {"error": "no concept called Bo", "exit_code": 1}
    exported = yo("export", "--out", str(tmp_path / "x.zip"), "--json", env=env, timeout=60)
    assert exported.returncode == 1 and "keep nothing" in exported.stderr, exported.stderr
    assert _rows(data) == {"users": 0, "chats": 0, "concepts": 0, "jobs": 0}

    asyncio.run(_seen(data, "telegram", "42"))
    exported = yo("export", "--user", "telegram:42", "--out", str(tmp_path / "x.zip"), "--json", env=env, timeout=60)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["file"] == str(tmp_path / "x.zip")
    assert _rows(data)["users"] == 1


def test_asking_writes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "park.jpg"
    path.write_bytes(photo((10, 200, 40), seed=3))
    asked = yo("ask", "is Bo in this?", "--image", str(path), "--json", "--user", "ghost", env=env)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["recognition"] == {}
    assert _rows(Path(env["YO_DATA_DIR"])) == {"users": 0, "chats": 0, "concepts": 0, "jobs": 0}


def test_teach_names_every_photo_it_left_out(tmp_path: Path, env: dict[str, str]) -> None:
    """Issue 22 (2): a broken photo among good ones is named with its reason, plain and --json."""
    paths = []
    for seed in range(3):
        path = tmp_path / f"good{seed}.jpg"
        path.write_bytes(photo((200, 120, 40), seed=seed))
        paths.append(str(path))
    (tmp_path / "zero.jpg").write_bytes(b"")
    paths.insert(1, str(tmp_path / "zero.jpg"))
    taught = yo("teach", "Mix", *paths, "--json", env=env)
    assert taught.returncode == 0, taught.stderr
    result = json.loads(taught.stdout)
    assert result["status"] == "ready"
    [left] = result["left_out"]
    assert left["photo"] == str(tmp_path / "zero.jpg") and "empty" in left["reason"]
    plain = yo("teach", "Mix2", *paths, env=env)
    assert plain.returncode == 0, plain.stderr
    assert f"left out {tmp_path / 'zero.jpg'}: " in plain.stdout


def test_version_exit_codes_and_json_errors(tmp_path: Path) -> None:
    """Issue 18 (7): `yo --version`; distinct exit codes for bad usage, no model and bad input; with --json
    a failure is one JSON object on stderr."""
    env = {**os.environ, "YO_MODEL": str(tmp_path / "no-such-model"), "YO_DATA_DIR": str(tmp_path / "data"),
           "HF_HUB_OFFLINE": "1", "TELEGRAM_BOT_TOKEN": "", "DISCORD_BOT_TOKEN": ""}
    version = yo("--version", env=env, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("yo "), version

    def failure(*args: str) -> tuple[int, dict[str, object]]:
        done = yo(*args, "--json", env=env, timeout=60)
        [line] = done.stderr.strip().splitlines()
        return done.returncode, json.loads(line)

    code, error = failure("concepts", "--no-such-option")
    assert code == 2 and error["exit_code"] == 2 and "no-such-option" in str(error["error"])
    code, error = failure("ask", "is Bo in this?")
    assert code == 3 and "no-such-model" in str(error["error"])
    asyncio.run(_seen(tmp_path / "data", "console", "local"))
    code, error = failure("export", "--out", str(tmp_path / "nowhere" / "x.zip"))
    assert code == 4 and "nowhere" in str(error["error"])
