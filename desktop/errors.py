"""The one base class for errors a user can act on, shared by every layer (it imports nothing)."""


class PigeonholeError(Exception):
    """``str(error)`` is a sentence meant for the user: the CLI prints it without a traceback, the GUI shows it."""
