"""ipm.Error and its subclasses, and the status codes of ipm_status."""

import enum

from ._lib import lib

__all__ = ["Status", "Error", "TimeoutError", "ConfigError", "raise_for"]


class Status(enum.IntEnum):
    """ipm_status, in the order of ipm/ipm.h."""

    OK = 0
    ETIMEDOUT = 1
    ESTATE = 2
    EINVAL = 3
    ESIZE = 4
    ENOPLUGIN = 5
    EPLUGIN = 6
    ECONFIG = 7
    ECONNECT = 8
    ENOTSUP = 9
    ETOOBIG = 10
    ENOMEM = 11
    ESYS = 12


class Error(Exception):
    """A failed ipm call: .status is its ipm.Status (an int for codes newer
    than this package), .message the library's sentence (ipm_last_error)."""

    def __init__(self, status, message):
        super().__init__(message)
        try:
            self.status = Status(status)
        except ValueError:
            self.status = status
        self.message = message

    def __str__(self):
        return self.message


class TimeoutError(Error):  # noqa: A001 - the name API.md gives it
    """A send or receive did not complete within its timeout."""


class ConfigError(Error):
    """A malformed connection string or INI file, a missing or unknown key."""


_CLASSES = {Status.ETIMEDOUT: TimeoutError, Status.ECONFIG: ConfigError}


def raise_for(status, context=None):
    """Raise the exception for a failed status, with this thread's last error."""
    text = lib.ipm_last_error()
    text = text.decode("utf-8", "replace") if text else ""
    if not text:
        text = lib.ipm_strerror(status).decode()
    if context:
        text = f"{context}: {text}"
    raise _CLASSES.get(status, Error)(status, text)


for _cls in (Status, Error, TimeoutError, ConfigError,):
    _cls.__module__ = "ipm"  # shown as ipm.X in tracebacks and reprs
