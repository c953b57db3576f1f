"""`yo console`: the assistant in the terminal, with the same store as the chat bots.

Photos are file paths anywhere in a line ("is Bo in this? ~/photos/park.jpg").
Buttons are numbered; type the number to press one of the latest shown. Arrow keys edit the line and
walk the history (kept in the data folder).

The terminal keeps copies of what was said: the history (what you typed, facts included) and
the images shown (collages, drawings), both 0600 in the data folder. Forgetting reaches them
too (`forget_copies`): /forgetme deletes both; /forget NAME deletes the history lines that name
NAME and every image shown, because their names (yo-1.jpg, …) don't say whom they show, and the
next session overwrites them anyway.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import shlex
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TextIO

from storage.files import PRIVATE_FILE, atomic_write, private_file, remove_empty_dir

from .assistant import Assistant, ButtonPress, Message, Photo, Reply
from .assistant.asking import WRITING
from .assistant.names import find_mentions

PLATFORM = "console"
PROMPT = "you › "
HISTORY = "console-history"  # in the data folder
OUT = "console-out"  # the images shown, in the data folder

# The readline of the chat running in this process, if any: its history is in memory and is
# written back at exit, so forgetting must edit it there too.
_live_readline: ModuleType | None = None


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
        self._open: tuple[int, str] | None = None  # the answer being written on the last line, and its text

    def show(self, reply: Reply, edited: int | None = None) -> None:
        self.replies.append(reply)
        if self.stream is None:
            return
        if self._as_it_goes(reply, edited):
            return
        prefix = "yo (updated) › " if edited else "yo › "
        lines = [prefix + reply.text]
        for image in reply.images:
            path = self.out_dir / f"yo-{next(self._numbers)}.jpg"
            atomic_write(path, image)  # 0600 in a 0700 folder, like every personal file
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

    def _as_it_goes(self, reply: Reply, edited: int | None) -> bool:
        """An answer still being written (its text ends in WRITING) prints on one line as it grows:
        each edit adds only its new words, and its last edit ends the line (anything else printed
        first ends it too). True when `reply` was printed so."""
        open_line, self._open = self._open, None
        plain = not (reply.images or reply.buttons or reply.link)
        writing = plain and reply.text.endswith(WRITING)
        text = reply.text.removesuffix(WRITING) if writing else reply.text
        if open_line is not None:
            number, printed = open_line
            if edited == number and plain and text.startswith(printed):
                print(text[len(printed):], end="" if writing else "\n", file=self.stream, flush=True)
                self._open = (number, text) if writing else None
                return True
            print(file=self.stream, flush=True)
        if not writing:
            return False
        print(("yo (updated) › " if edited else "yo › ") + text, end="", file=self.stream, flush=True)
        self._open = (edited or len(self.replies), text)
        return True

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


def forget_copies(data_dir: Path, names: Sequence[str] | None = None) -> None:
    """Delete the terminal's copies of what was said: with `names` (concepts forgotten), the
    history lines naming one of them and every image shown; without (a user forgotten), all."""
    def keep(line: str) -> bool:
        return names is not None and not find_mentions(line, [(name, name) for name in names])

    history = data_dir / HISTORY
    if names is None:
        history.unlink(missing_ok=True)
    elif history.exists():
        lines = history.read_text(encoding="utf-8", errors="replace").splitlines()
        atomic_write(history, "".join(f"{line}\n" for line in lines if keep(line)).encode())
    for image in (data_dir / OUT).glob("yo-*.jpg"):
        image.unlink(missing_ok=True)
    remove_empty_dir(data_dir / OUT)
    if _live_readline is not None:
        _forget_in_memory(_live_readline, keep)


def _forget_in_memory(readline: ModuleType, keep: Callable[[str], bool]) -> None:
    """Drop history lines from readline's memory, last first so the positions hold. Safe while
    the input waits at a fresh prompt, or is not reading: readline then holds no entry itself."""
    for position in range(readline.get_current_history_length(), 0, -1):
        line = readline.get_history_item(position)
        if line is None or not keep(line):
            readline.remove_history_item(position - 1)  # get is 1-based, remove 0-based


def save_history(readline: ModuleType, history: Path) -> None:
    """Write the history 0600 (GNU readline does; other libraries may follow the umask)."""
    private_file(history)
    readline.write_history_file(str(history))
    os.chmod(history, PRIVATE_FILE)


async def chat(assistant: Assistant, user_id: str = "local") -> None:
    global _live_readline
    try:
        import readline  # line editing and history where the platform has it
    except ImportError:  # pragma: no cover - Windows
        readline = None  # type: ignore[assignment]
    data_dir = assistant.services.settings.yo_data_dir
    history = data_dir / HISTORY
    if readline is not None and history.exists():
        readline.read_history_file(history)
    _live_readline = readline
    channel = ConsoleChannel(data_dir / OUT, stream=sys.stdout)
    assistant.register_notifier(PLATFORM, lambda chat_id: _same(channel))
    print("Yo in the terminal. Type /help; add photos as file paths; Ctrl-D quits.", flush=True)
    lines = await _read_lines()
    try:
        while True:
            line = await lines.get()
            if line is None:
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
        _live_readline = None
        if readline is not None:
            save_history(readline, history)


async def _read_lines() -> "asyncio.Queue[str | None]":
    """Lines typed at the prompt, then None at the end of input; a stop never waits for a line.

    A terminal is read with input() (line editing, history) on a daemon thread: readline reads
    the terminal below Python's stdin object, so a thread still waiting there at exit holds no
    lock. A pipe (a service's stdin, a test) is read by the event loop itself: a thread blocked in
    sys.stdin's buffer at exit would make the interpreter abort."""
    loop, lines = asyncio.get_running_loop(), asyncio.Queue[str | None]()
    if not sys.stdin.isatty():
        reader = asyncio.StreamReader()
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        except ValueError:  # a regular file: reading it never waits, a thread will do
            pass
        else:
            async def pump() -> None:
                while line := await reader.readline():
                    lines.put_nowait(line.decode(errors="replace").rstrip("\n"))
                lines.put_nowait(None)

            _pumps.add(task := asyncio.create_task(pump()))
            task.add_done_callback(_pumps.discard)
            return lines

    def read() -> None:
        while True:
            try:
                line: str | None = input(PROMPT)
            except (EOFError, OSError, ValueError):  # end of input, or stdin closed under us
                line = None
            try:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            except RuntimeError:  # the loop is closed: the chat is over
                return
            if line is None:
                return

    threading.Thread(target=read, name="yo-console-input", daemon=True).start()
    return lines


_pumps: set["asyncio.Task[None]"] = set()  # keeps the pipe readers referenced while they run


async def _same(channel: ConsoleChannel) -> ConsoleChannel:
    return channel
