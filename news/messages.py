"""Fetch messages that are stored in the active language and logged in English.

A failure message is built where the failure happens, but it is rendered
twice: in the active language for the run and source records that users
read, and in English for the logs.
"""

from django.utils import translation


class Message:
    """A translatable template (from gettext_lazy) with its %-style parameters."""

    def __init__(self, template, params=None):
        self.template = template
        self.params = params or {}

    def __str__(self):
        params = {
            name: str(value) if isinstance(value, Message) else value
            for name, value in self.params.items()
        }
        return str(self.template) % params

    def __repr__(self):
        return f"<Message {self.english()!r}>"

    def english(self):
        with translation.override("en"):
            return str(self)


class MessageList(Message):
    """Several messages shown as one, separated by semicolons."""

    def __init__(self, messages=()):
        super().__init__("")
        self.messages = list(messages)

    def __str__(self):
        return "; ".join(str(message) for message in self.messages)

    def __bool__(self):
        return bool(self.messages)

    def append(self, message):
        self.messages.append(message)


def render(message):
    """Return `message` (a Message, a plain string or empty) as text in the active language."""
    return str(message) if message else ""


def english(message):
    """Return `message` (a Message, a plain string or empty) as English text for logs."""
    if isinstance(message, Message):
        return message.english()
    return str(message or "")
