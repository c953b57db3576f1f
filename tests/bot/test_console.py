"""`yo console`: the terminal chat, driven line by line like a person would."""

from __future__ import annotations

import io
import os
import queue
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot import console
from bot.assistant import Assistant, ButtonPress, Message, Reply
from bot.console import ConsoleChannel
from bot.settings import Settings
from storage.models import Concept
from tests.fakes.chat import RecordingChannel
from tests.fakes.photos import photo


class Terminal:
    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "console"], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"never saw {text!r}; saw:\n{''.join(self.seen)}")

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=60)


def test_teach_and_ask_in_the_terminal(tmp_path: Path, tiny_model: Path) -> None:
    env = {**os.environ, "YO_MODEL": str(tiny_model), "YO_DATA_DIR": str(tmp_path / "data"), "YO_DEVICE": "cpu",
           "YO_TRAIN_EPOCHS": "1", "TELEGRAM_BOT_TOKEN": "", "DISCORD_BOT_TOKEN": ""}
    paths = []
    for seed in range(3):
        path = tmp_path / f"bo {seed}.jpg"  # a space in the name: quoting works
        path.write_bytes(photo((200, 120, 40), seed=seed))
        paths.append(f'"{path}"')
    terminal = Terminal(env)
    try:
        terminal.expect("Yo in the terminal")
        terminal.type("/help")
        terminal.expect("Teach me: /teach Bo")
        terminal.type("/teach Bo")
        terminal.expect("Let's meet Bo!")
        terminal.type(" ".join(paths))
        terminal.expect("Got 3 photos of Bo (3 in all)")
        terminal.type("/done")
        terminal.expect("Learning Bo")
        terminal.expect("Bo is ready!")
        terminal.expect("[image: ")  # the collage, written to a file
        terminal.type(f"is Bo in this? {paths[0]}")
        line = terminal.expect("in this photo")
        assert "% sure" in line
        terminal.expect("[1] ✅ Right  [2] ❌ Wrong")
        terminal.type("1")  # "right": the photo is kept as whatever the answer said
        terminal.expect("I'll remember this is Bo" if "Yes, Bo" in line else "I'll remember this isn't Bo")
        terminal.type("/concepts")
        terminal.expect("• Bo — ready, 3 photos")
    finally:
        assert terminal.close() == 0
    assert (tmp_path / "data" / "console-history").exists()


# -- forgetting reaches the terminal's own copies (its history and the images it showed) ------------


class FakeReadline:
    """readline's history API, over a list (the test process's own readline stays untouched)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)

    def get_current_history_length(self) -> int:
        return len(self.lines)

    def get_history_item(self, position: int) -> str | None:
        return self.lines[position - 1] if 0 < position <= len(self.lines) else None

    def remove_history_item(self, index: int) -> None:
        del self.lines[index]

    def write_history_file(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as out:  # the umask's mode, as some libraries do
            out.write("".join(f"{line}\n" for line in self.lines))


TYPED = ["/teach Bo", "remember that bo's birthday is 3 May", "who is Kiwi?", "/forget Bo", "1"]


async def console_concepts(assistant: Assistant, *names: str) -> list[Concept]:
    user = await assistant.store.get_or_create_user(console.PLATFORM, "local")
    return [await assistant.store.create_concept(user.id, name, name.lower(), "fake/colour-model") for name in names]


def terminal_with_history(data: Path) -> ConsoleChannel:
    """A terminal that showed a collage and whose history holds TYPED."""
    channel = ConsoleChannel(data / console.OUT, stream=io.StringIO())
    channel.show(Reply("Bo is ready!", images=[photo(seed=1)]))
    (data / console.HISTORY).write_text("".join(f"{line}\n" for line in TYPED), encoding="utf-8")
    return channel


async def test_forget_in_the_terminal_drops_history_lines_naming_the_concept_and_the_images(
        assistant: Assistant, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    data = settings.yo_data_dir
    bo, _ = await console_concepts(assistant, "Bo", "Kiwi")
    channel = terminal_with_history(data)
    live = FakeReadline(TYPED)
    monkeypatch.setattr(console, "_live_readline", live)  # as while `yo console` runs
    await assistant.press(ButtonPress(console.PLATFORM, "local", "local", f"forget:{bo.id}"), channel)
    assert channel.replies[-1].text.startswith("Forgot Bo")
    kept = ["who is Kiwi?", "1"]
    assert (data / console.HISTORY).read_text(encoding="utf-8").splitlines() == kept
    assert live.lines == kept, "the chat would write its memory back at exit"
    assert not (data / console.OUT).exists()


async def test_forget_me_in_the_terminal_drops_the_whole_history_the_images_and_the_chat(
        assistant: Assistant, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    data = settings.yo_data_dir
    bo, _ = await console_concepts(assistant, "Bo", "Kiwi")
    channel = terminal_with_history(data)
    live = FakeReadline(TYPED)
    monkeypatch.setattr(console, "_live_readline", live)
    await assistant.handle(Message(console.PLATFORM, "local", "local", text="/concepts"), channel)
    assert await assistant.store.db.fetch_all("SELECT * FROM chats"), "the terminal's chat has a row"
    await assistant.press(ButtonPress(console.PLATFORM, "local", "local", f"forgetme:{bo.owner_id}"), channel)
    assert channel.replies[-1].text.startswith("Done")
    assert not (data / console.HISTORY).exists() and not (data / console.OUT).exists() and live.lines == []
    for table in ("users", "chats", "concepts"):
        assert await assistant.store.db.fetch_all(f"SELECT * FROM {table}") == [], table


async def test_forgetting_in_another_chat_leaves_the_terminal_alone(
        assistant: Assistant, settings: Settings) -> None:
    data = settings.yo_data_dir
    user = await assistant.store.get_or_create_user("test", "ana")
    bo = await assistant.store.create_concept(user.id, "Bo", "bo", "fake/colour-model")
    terminal_with_history(data)
    await assistant.press(ButtonPress("test", "ana", "ana", f"forget:{bo.id}"), RecordingChannel())
    assert (data / console.HISTORY).read_text(encoding="utf-8").splitlines() == TYPED
    assert len(list((data / console.OUT).iterdir())) == 1


def test_the_images_shown_and_the_history_are_private(tmp_path: Path) -> None:
    channel = ConsoleChannel(tmp_path / "data" / console.OUT, stream=io.StringIO())
    channel.show(Reply("Bo is ready!", images=[photo(seed=1)]))
    [image] = (tmp_path / "data" / console.OUT).iterdir()
    assert (mode(image), mode(image.parent)) == (0o600, 0o700)
    history = tmp_path / "data" / console.HISTORY
    console.save_history(FakeReadline(["remember that Bo's birthday is 3 May"]), history)  # type: ignore[arg-type]
    assert mode(history) == 0o600
    history.chmod(0o644)  # as an older Yo left it
    console.save_history(FakeReadline(["hi"]), history)  # type: ignore[arg-type]
    assert mode(history) == 0o600 and history.read_text(encoding="utf-8") == "hi\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
