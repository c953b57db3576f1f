"""`yo console`: the assistant in the terminal, with the same store as the chat bots.

Photos are file paths anywhere in a line ("is Bo in this? ~/photos/park.jpg").
Buttons are numbered; type the number to press one of the latest shown. Arrow keys edit the line and
walk the history (kept in the data folder).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import shlex
from pathlib import Path
from typing import TextIO

from .assistant import Assistant, ButtonPress, Message, Photo, Reply

PLATFORM = "console"
PROMPT = "you › "


class ConsoleMessage:
    def __init__(self, channel: "ConsoleChannel", number: int) -> None:
        self._channel, self._number = channel, number

    async def edit(self, reply: Reply) -> None:
        self._channel.show(reply, edited=self._number)


class ConsoleChannel:
    """Prints replies; images are written to files whose paths are printed."""

    def __init__(self, out_dir: Path, stream: TextIO | None = None) -> None:
        self.out_dir = out_dir
        self.stream = stream
        self.buttons: list[str] = []  # data of the latest buttons shown, by number - 1
        self.replies: list[Reply] = []
        self._numbers = itertools.count(1)

    def show(self, reply: Reply, edited: int | None = None) -> None:
        self.replies.append(reply)
        if self.stream is None:
            return
        prefix = "yo (updated) › " if edited else "yo › "
        lines = [prefix + reply.text]
        for image in reply.images:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            path = self.out_dir / f"yo-{next(self._numbers)}.jpg"
            path.write_bytes(image)
            lines.append(f"   [image: {path}]")
        if reply.buttons:
            self.buttons = []  # numbers always refer to the latest buttons shown
        for row in reply.buttons:
            labels = []
            for button in row:
                self.buttons.append(button.data)
                labels.append(f"[{len(self.buttons)}] {button.label}")
            lines.append("   " + "  ".join(labels))
        if reply.link:
            lines.append(f"   {reply.link}")
        print("\n".join(lines), file=self.stream, flush=True)

    async def send(self, reply: Reply) -> ConsoleMessage:
        self.show(reply)
        return ConsoleMessage(self, len(self.replies))

    async def show_activity(self, kind: str = "typing") -> None:
        return None

    def private_link(self, payload: str) -> str | None:
        return None


def split_photos(line: str) -> tuple[str, list[Photo]]:
    """Separate file paths of photos from the words of a line."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    text, photos = [], []
    for word in words:
        path = Path(word).expanduser()
        if path.is_file():
            photos.append(Photo(path.read_bytes(), path.name))
        else:
            text.append(word)
    return " ".join(text), photos


async def chat(assistant: Assistant, user_id: str = "local") -> None:
    try:
        import readline  # line editing and history where the platform has it
    except ImportError:  # pragma: no cover - Windows
        readline = None  # type: ignore[assignment]
    data_dir = assistant.services.settings.yo_data_dir
    history = data_dir / "console-history"
    if readline is not None and history.exists():
        readline.read_history_file(history)
    channel = ConsoleChannel(data_dir / "console-out", stream=sys.stdout)
    assistant.register_notifier(PLATFORM, lambda chat_id: _same(channel))
    print("Yo in the terminal. Type /help; add photos as file paths; Ctrl-D quits.", flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                line = await loop.run_in_executor(None, input, PROMPT)
            except EOFError:
                break
            line = line.strip()
            if not line:
                continue
            if line.isdigit() and 0 < int(line) <= len(channel.buttons):
                press = ButtonPress(PLATFORM, user_id, user_id, channel.buttons[int(line) - 1])
                await assistant.press(press, channel)
                continue
            text, photos = split_photos(line)
            await assistant.handle(Message(PLATFORM, user_id, user_id, text=text, photos=tuple(photos)), channel)
    finally:
        if readline is not None:
            history.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(history)


async def _same(channel: ConsoleChannel) -> ConsoleChannel:
    return channel
