"""Errors a user can fix. The CLI prints their message on one line and exits with 2."""


class IcarlError(ValueError):
    """Base of every user-facing error; the message names the problem and the fix."""


class NotFittedError(IcarlError):
    """A learner was asked to predict, score or extract features before it learned anything."""


class DataError(IcarlError):
    """Bad or unreadable data; the message names the problem and the fix."""
