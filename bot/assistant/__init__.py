"""The transport-free assistant; adapters hand it Messages and a Channel to answer on."""

from .assistant import Assistant
from .messages import Button, ButtonPress, Channel, Message, Photo, Reply, SentMessage

__all__ = ["Assistant", "Button", "ButtonPress", "Channel", "Message", "Photo", "Reply", "SentMessage"]
