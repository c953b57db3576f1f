"""A Channel that records what the assistant says, for tests of the assistant itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.assistant import Reply


@dataclass
class RecordedMessage:
    channel: "RecordingChannel"
    reply: Reply
    edits: list[Reply] = field(default_factory=list)

    @property
    def current(self) -> Reply:
        return self.edits[-1] if self.edits else self.reply

    async def edit(self, reply: Reply) -> None:
        self.edits.append(reply)


class RecordingChannel:
    def __init__(self) -> None:
        self.sent: list[RecordedMessage] = []
        self.activity: list[str] = []

    async def send(self, reply: Reply) -> RecordedMessage:
        message = RecordedMessage(self, reply)
        self.sent.append(message)
        return message

    async def show_activity(self, kind: str = "typing") -> None:
        self.activity.append(kind)

    def private_link(self, payload: str) -> str | None:
        return f"https://t.me/yo_test_bot?start={payload}"

    @property
    def texts(self) -> list[str]:
        return [m.current.text for m in self.sent]

    @property
    def last(self) -> Reply:
        return self.sent[-1].current

    def button(self, label_part: str) -> str:
        """The data of the most recent button whose label contains `label_part`."""
        for message in reversed(self.sent):
            for row in message.current.buttons:
                for button in row:
                    if label_part in button.label:
                        return button.data
        raise AssertionError(f"no button with {label_part!r} in {self.texts}")
