"""Yo on Telegram: python-telegram-bot's Application in front of the transport-free assistant.

What a Telegram user gets:

- Commands, text and photos go to the assistant as one `Message` each; an album (several
  photos sent at once) arrives as ONE message with all its photos, its caption as the text.
- Photos may be sent compressed or as image files (uncompressed). Telegram lets bots fetch
  files of up to 20 MB; a larger one gets a clear reply instead of a silent failure.
- In groups Yo only listens when addressed: a command, an @mention, or a reply to one of
  its messages. Teaching happens in a private chat (the assistant offers a link).
- Long work shows "typing…"; training progress is one message edited in place.

`build_application` wires everything; `run_telegram` serves it (long polling, or a webhook
when YO_WEBHOOK_URL is set) until cancelled.
"""

from .app import build_application, run_telegram, serving

__all__ = ["build_application", "run_telegram", "serving"]
