"""Loading libipm.so and declaring the C functions ipm/ipm.h exports.

Where the library is looked for, in order:

1. ``IPM_LIBRARY``: the path of libipm.so itself (used alone when set, so a
   wrong value is an error rather than a silent fallback);
2. next to the installed package: ``cmake --install`` writes ``_install.py``
   with the path from the package to the library directory (relative, so the
   prefix can be moved);
3. the dynamic loader's own search (``LD_LIBRARY_PATH``, ``ldconfig``), for a
   package installed with pip beside a system-wide libipm.

ctypes.CDLL releases the GIL for every call, so a blocking receive never
stalls other Python threads.
"""

import ctypes
import os

__all__ = ["lib", "path", "Message_t", "Stats_t"]


def _candidates():
    env = os.environ.get("IPM_LIBRARY")
    if env:
        return [env]
    out = []
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from . import _install  # written by cmake --install

        out.append(os.path.normpath(os.path.join(here, _install.LIBDIR, _install.SONAME)))
    except ImportError:
        pass
    out += ["libipm.so.1", "libipm.so"]
    return out


def _load():
    tried = []
    for cand in _candidates():
        try:
            return ctypes.CDLL(cand), cand
        except OSError as e:
            tried.append(f"  {cand}: {e}")
    raise ImportError(
        "ipm: cannot load libipm.so; tried:\n"
        + "\n".join(tried)
        + "\nSet IPM_LIBRARY to the path of libipm.so, or install ipm with "
        "cmake --install so that the package finds it in its prefix."
    )


lib, path = _load()

_p = ctypes.c_void_p
_pp = ctypes.POINTER(ctypes.c_void_p)
_s = ctypes.c_char_p
_z = ctypes.c_size_t
_i = ctypes.c_int


class Message_t(ctypes.Structure):
    """struct ipm_message"""

    _fields_ = [
        ("data", _p),
        ("size", _z),
        ("metadata", _p),
        ("metadata_size", _z),
        ("opaque_", _p * 4),
    ]


class Stats_t(ctypes.Structure):
    """struct ipm_stats"""

    _fields_ = [
        ("messages", ctypes.c_uint64),
        ("bytes", ctypes.c_uint64),
        ("dropped", ctypes.c_uint64),
    ]


_MSGP = ctypes.POINTER(Message_t)
_STATSP = ctypes.POINTER(Stats_t)

# name: (restype, argtypes); ipm_status is an int.
_PROTOTYPES = {
    "ipm_strerror": (_s, [_i]),
    "ipm_last_error": (_s, []),
    "ipm_version": (_s, []),
    "ipm_params_new": (_i, [_pp]),
    "ipm_params_parse": (_i, [_s, _pp]),
    "ipm_params_set": (_i, [_p, _s, _s]),
    "ipm_params_get": (_s, [_p, _s]),
    "ipm_params_count": (_z, [_p]),
    "ipm_params_key_at": (_s, [_p, _z]),
    "ipm_params_value_at": (_s, [_p, _z]),
    "ipm_params_free": (None, [_p]),
    "ipm_sender_create": (_i, [_s, _pp]),
    "ipm_sender_connect": (_i, [_p, _p]),
    "ipm_sender_endpoint": (_s, [_p]),
    "ipm_sender_can_send": (ctypes.c_bool, [_p]),
    "ipm_send": (_i, [_p, _p, _z, _i, _s]),
    "ipm_sender_stats": (None, [_p, _STATSP]),
    "ipm_sender_destroy": (None, [_p]),
    "ipm_receiver_create": (_i, [_s, _pp]),
    "ipm_subscriber_create": (_i, [_s, _pp]),
    "ipm_receiver_connect": (_i, [_p, _p]),
    "ipm_receiver_endpoint": (_s, [_p]),
    "ipm_receiver_can_receive": (ctypes.c_bool, [_p]),
    "ipm_receive": (_i, [_p, _MSGP, _i]),
    "ipm_receive_exact": (_i, [_p, _MSGP, _i, _z]),
    "ipm_message_release": (None, [_MSGP]),
    "ipm_subscribe": (_i, [_p, _s]),
    "ipm_unsubscribe": (_i, [_p, _s]),
    "ipm_receiver_stats": (None, [_p, _STATSP]),
    "ipm_receiver_destroy": (None, [_p]),
    "ipm_sender_open": (_i, [_s, _pp]),
    "ipm_receiver_open": (_i, [_s, _pp]),
    "ipm_config_load": (_i, [_s, _pp]),
    "ipm_config_count": (_z, [_p]),
    "ipm_config_name_at": (_s, [_p, _z]),
    "ipm_config_params": (_i, [_p, _s, _pp]),
    "ipm_config_sender": (_i, [_p, _s, _pp]),
    "ipm_config_receiver": (_i, [_p, _s, _pp]),
    "ipm_config_free": (None, [_p]),
}

for _name, (_res, _args) in _PROTOTYPES.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args

_major = lib.ipm_version().decode().split(".")[0]
if _major != "1":
    raise ImportError(f"ipm: {path} is version {lib.ipm_version().decode()}; this package needs 1.x")
