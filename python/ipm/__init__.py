"""ipm — inter-process messaging for DAQ systems, from Python.

A ctypes binding of libipm (API.md section 9)::

    import ipm
    with ipm.Receiver("type=ShmReceiver; connection_string=shm://demo") as rx, \\
         ipm.Sender("type=ShmSender; connection_string=shm://demo") as tx:
        tx.send(b"hello", metadata="greeting")
        msg = rx.receive(timeout=1.0)
        print(msg.data, msg.metadata)

Timeouts are seconds (None waits forever, 0 tries once); failures raise
ipm.Error (.status, and the library's message), ipm.TimeoutError and
ipm.ConfigError derive from it. libipm.so is found through IPM_LIBRARY, the
prefix the package was installed into by cmake --install, or the dynamic
loader's search path; ipm.library_path says which was loaded.
"""

from ._lib import path as library_path
from ._lib import lib as _clib
from ._errors import Status, Error, TimeoutError, ConfigError
from ._api import Message, Sender, Receiver, Config

__all__ = [
    "Status",
    "Error",
    "TimeoutError",
    "ConfigError",
    "Message",
    "Sender",
    "Receiver",
    "Config",
    "library_path",
    "version",
]

__version__ = "1.0.0"


def version():
    """The version of the loaded libipm, "MAJOR.MINOR.PATCH"."""
    return _clib.ipm_version().decode()
