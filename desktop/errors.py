"""The one base class for errors a user can act on, shared by every layer (it imports nothing)."""


class PigeonholeError(Exception):
    """``str(error)`` is a sentence meant for the user: the CLI prints it without a traceback, the GUI shows it."""


class Cancelled(Exception):
    """The user stopped a job; nothing is wrong, and work already done (cached features, files sorted) is kept."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)
