"""`yo console`: the terminal chat, driven line by line like a person would."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

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
