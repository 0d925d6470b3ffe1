"""ipm.Sender, ipm.Receiver, ipm.Message and ipm.Config over libipm.

Timeouts are in seconds (int or float); None waits forever, 0 tries once.
Long waits are made of slices of at most 0.2 s, so that Ctrl-C (and, for
receive_async, cancellation) is noticed promptly; a message that arrives
during a slice wakes it at once, as the C library waits in the kernel.
"""

import asyncio
import concurrent.futures
import ctypes
import threading
import time

from . import _lib
from ._errors import Error, Status, TimeoutError, raise_for

__all__ = ["Message", "Sender", "Receiver", "Config"]

_lib_ = _lib.lib
_send = _lib_.ipm_send
_receive = _lib_.ipm_receive
_receive_exact = _lib_.ipm_receive_exact
_release = _lib_.ipm_message_release
_string_at = ctypes.string_at
_byref = ctypes.byref

_OK = 0
_ETIMEDOUT = int(Status.ETIMEDOUT)
_SLICE_MS = 200  # longest single wait of a blocking call
_ASYNC_SLICE_MS = 50  # longest wait before receive_async notices cancellation


def _timeout_ms(timeout):
    """Seconds (None: forever) to the C API's timeout_ms, rounded up."""
    if timeout is None:
        return -1
    if timeout <= 0:
        return 0
    ms = timeout * 1000.0
    if ms >= 2147483647:
        return -1
    i = int(ms)
    return i if i == ms else i + 1


def _text(s):
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    if isinstance(s, str):
        return s.encode()
    raise TypeError(f"expected str, got {type(s).__name__}")


def _spec_params(spec):
    """An ipm_params handle for a connection string or a dict of keys."""
    p = ctypes.c_void_p()
    if isinstance(spec, dict):
        st = _lib_.ipm_params_new(_byref(p))
        if st:
            raise_for(st)
        for k, v in spec.items():
            if isinstance(v, (list, tuple)):
                v = ",".join(str(x) for x in v)
            elif isinstance(v, bool):
                v = "true" if v else "false"
            st = _lib_.ipm_params_set(p, _text(str(k)), _text(str(v)))
            if st:
                _lib_.ipm_params_free(p)
                raise_for(st)
        return p
    st = _lib_.ipm_params_parse(_text(spec), _byref(p))
    if st:
        raise_for(st)
    return p


def _stats(fn, handle):
    st = _lib.Stats_t()
    fn(handle, _byref(st))
    return {"messages": st.messages, "bytes": st.bytes, "dropped": st.dropped}


class Message:
    """A received message: .data (bytes, copied once out of the library's
    buffer, which is given back at once) and .metadata (str; the topic, for
    publish/subscribe)."""

    __slots__ = ("data", "metadata")

    def __init__(self, data, metadata=""):
        self.data = data
        self.metadata = metadata

    def __len__(self):
        return len(self.data)

    def __bytes__(self):
        return self.data

    def __eq__(self, other):
        if not isinstance(other, Message):
            return NotImplemented
        return self.data == other.data and self.metadata == other.metadata

    def __repr__(self):
        d = self.data if len(self.data) <= 32 else self.data[:32] + b"..."
        return f"ipm.Message({d!r}, metadata={self.metadata!r})"


class Sender:
    """A connected sender: ipm.Sender("type=ZmqSender; connection_string=...")
    (a connection string with a `type` key, or a dict of the same keys).
    One thread at a time may use it."""

    def __init__(self, spec, *, _handle=None):
        self._h = None
        if _handle is not None:
            self._h = _handle
            return
        h = ctypes.c_void_p()
        if isinstance(spec, dict):
            p = _spec_params(spec)
            try:
                st = _lib_.ipm_sender_create(_text(str(spec.get("type", ""))), _byref(h))
                if st:
                    raise_for(st)
                st = _lib_.ipm_sender_connect(h, p)
                if st:
                    _lib_.ipm_sender_destroy(h)
                    raise_for(st)
            finally:
                _lib_.ipm_params_free(p)
        else:
            st = _lib_.ipm_sender_open(_text(spec), _byref(h))
            if st:
                raise_for(st)
        self._h = h

    def send(self, data, timeout=None, metadata=""):
        """Send a bytes-like object with metadata (str; the topic, for
        publishers). Waits up to timeout seconds (None: forever) for the
        transport to take it, then raises ipm.TimeoutError with nothing sent.
        """
        h = self._h
        if h is None:
            raise Error(Status.ESTATE, "send on a closed ipm.Sender")
        if type(data) is bytes:
            buf, n = data, len(data)
        else:
            buf, n = _buffer(data)
        md = (metadata.encode() if type(metadata) is str else bytes(metadata)) if metadata else None
        ms = _timeout_ms(timeout)
        if 0 <= ms <= _SLICE_MS:
            st = _send(h, buf, n, ms, md)
        else:
            st = self._send_sliced(h, buf, n, ms, md)
            if st == _ETIMEDOUT:
                raise TimeoutError(st, f"{self.endpoint}: could not send within {ms} ms")
        if st:
            raise_for(st)

    @staticmethod
    def _send_sliced(h, buf, n, ms, md):
        deadline = None if ms < 0 else time.monotonic() + ms / 1000.0
        while True:
            left = _SLICE_MS
            if deadline is not None:
                left = min(_SLICE_MS, max(0, int((deadline - time.monotonic()) * 1000) + 1))
            st = _send(h, buf, n, left, md)
            if st != _ETIMEDOUT or (deadline is not None and time.monotonic() >= deadline):
                return st

    @property
    def endpoint(self):
        """The resolved endpoint (e.g. tcp://127.0.0.1:40123)."""
        e = _lib_.ipm_sender_endpoint(self._h) if self._h else None
        return e.decode() if e else None

    def can_send(self):
        return bool(self._h) and _lib_.ipm_sender_can_send(self._h)

    def stats(self):
        """{'messages', 'bytes', 'dropped'} sent so far."""
        return _stats(_lib_.ipm_sender_stats, self._h)

    def close(self):
        """Destroy the sender (bounded by the transport's linger); idempotent."""
        h, self._h = self._h, None
        if h:
            _lib_.ipm_sender_destroy(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def _buffer(data):
    """(pointer-compatible object, size) of a bytes-like object, without a
    copy when it is writable or bytes."""
    if isinstance(data, str):
        raise TypeError("ipm: send() takes a bytes-like object, not str (encode it)")
    mv = memoryview(data)
    if not mv.c_contiguous:
        mv = memoryview(mv.tobytes())
    n = mv.nbytes
    if n == 0:
        return None, 0
    if mv.readonly:
        obj = mv.obj
        if type(obj) is bytes and len(obj) == n:
            return obj, n
        return mv.tobytes(), n
    return (ctypes.c_char * n).from_buffer(mv.cast("B")), n


class Receiver:
    """A connected receiver or subscriber:
    ipm.Receiver("type=ZmqSubscriber; connection_string=...; topics=tp")
    (a connection string with a `type` key, or a dict; subscribers subscribe
    to its `topics`). One thread at a time may use it."""

    def __init__(self, spec, *, _handle=None):
        self._h = None
        self._msg = _lib.Message_t()
        self._msgref = _byref(self._msg)
        self._pending = None  # a message received for a cancelled receive_async
        self._lock = threading.Lock()
        self._worker = None  # the thread receive_async waits on
        self._inflight = None  # (future, stop event) of the worker's receive
        self._closing = False
        if _handle is not None:
            self._h = _handle
            return
        h = ctypes.c_void_p()
        if isinstance(spec, dict):
            p = _spec_params(spec)
            try:
                st = _lib_.ipm_receiver_create(_text(str(spec.get("type", ""))), _byref(h))
                if st:
                    raise_for(st)
                st = _lib_.ipm_receiver_connect(h, p)
                if st:
                    _lib_.ipm_receiver_destroy(h)
                    raise_for(st)
            finally:
                _lib_.ipm_params_free(p)
        else:
            st = _lib_.ipm_receiver_open(_text(spec), _byref(h))
            if st:
                raise_for(st)
        self._h = h

    # ---------------------------------------------------------------- receive

    def receive(self, timeout=None):
        """The next message (ipm.Message); ipm.TimeoutError if none arrives
        within timeout seconds (None: wait forever)."""
        if self._pending is not None or self._inflight is not None:
            m = self._settle("receive")
            if m is not None:
                return m
        h = self._h
        if h is None:
            raise Error(Status.ESTATE, "receive on a closed ipm.Receiver")
        ms = _timeout_ms(timeout)
        msg = self._msg
        st = _receive(h, self._msgref, ms if 0 <= ms <= _SLICE_MS else _SLICE_MS)
        if st == _ETIMEDOUT and not 0 <= ms <= _SLICE_MS:
            st = self._receive_sliced(h, ms, _SLICE_MS, None)
            if st == _ETIMEDOUT:
                raise TimeoutError(st, f"{self.endpoint}: no message within {ms} ms")
        if st:
            raise_for(st)
        try:
            n = msg.metadata_size
            return Message(
                _string_at(msg.data, msg.size) if msg.size else b"",
                _string_at(msg.metadata, n).decode("utf-8", "replace") if n else "",
            )
        finally:
            _release(self._msgref)

    def _receive_sliced(self, h, ms, slice_ms, stop):
        """Wait (one slice already spent) until a message, the deadline, or
        `stop` is set; returns the status of the last ipm_receive."""
        deadline = None if ms < 0 else time.monotonic() + (ms - slice_ms) / 1000.0
        while True:
            if stop is not None and stop.is_set():
                return _ETIMEDOUT
            left = slice_ms
            if deadline is not None:
                rem = deadline - time.monotonic()
                if rem <= 0:
                    return _ETIMEDOUT
                left = min(slice_ms, int(rem * 1000) + 1)
            st = _receive(h, self._msgref, left)
            if st != _ETIMEDOUT:
                return st

    def receive_exact(self, size, timeout=None):
        """As receive, but ipm.Error (status ESIZE) unless the message is
        exactly size bytes; the message is consumed either way."""
        m = self.receive(timeout)
        if len(m.data) != size:
            raise Error(
                Status.ESIZE,
                f"{self.endpoint or 'ipm.Receiver'}: received {len(m.data)} bytes, "
                f"required {size}",
            )
        return m

    def __iter__(self):
        """Messages as they arrive, until the receiver is closed."""
        while self._h is not None:
            yield self.receive()

    # ------------------------------------------------------------------ async

    async def receive_async(self, timeout=None):
        """await the next message without blocking the event loop.

        The C API has no file descriptor to hand to the loop, so the wait
        runs on this receiver's own worker thread, inside ipm_receive (the GIL
        is released, and the kernel wakes it the moment a message arrives),
        in slices of 50 ms. Cancelling the awaiting task stops the worker
        within a slice; a message it received meanwhile is kept and returned
        by the next receive or receive_async, never lost. A dedicated thread
        per receiver (not the loop's shared executor) means that many
        receivers waiting at once never starve each other.
        ipm.TimeoutError after timeout seconds (None: wait forever)."""
        if self._pending is not None or self._inflight is not None:
            fut = self._inflight[0] if self._inflight else None
            if fut is not None and not fut.done() and not self._inflight[1].is_set():
                raise Error(Status.ESTATE, "a receive_async is already waiting on this receiver")
            if fut is not None and not fut.done():
                await asyncio.wrap_future(fut)  # a cancelled one, finishing its slice
            m = self._settle("receive_async")
            if m is not None:
                return m
        if self._h is None:
            raise Error(Status.ESTATE, "receive_async on a closed ipm.Receiver")
        if self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="ipm-receive"
            )
        stop = threading.Event()
        fut = self._worker.submit(self._worker_receive, _timeout_ms(timeout), stop)
        self._inflight = (fut, stop)
        try:
            await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            stop.set()
            raise
        with self._lock:
            m, self._pending = self._pending, None
            self._inflight = None
        return m

    def _worker_receive(self, ms, stop):
        """On the worker thread: receive into self._pending, so that the
        message survives a cancelled await; or raise."""
        h = self._h
        if h is None:
            raise Error(Status.ESTATE, "ipm.Receiver closed during receive_async")
        first = ms if 0 <= ms <= _ASYNC_SLICE_MS else _ASYNC_SLICE_MS
        st = _receive(h, self._msgref, first)
        if st == _ETIMEDOUT and first != ms:
            st = self._receive_sliced(h, ms, _ASYNC_SLICE_MS, stop)
        if st == _ETIMEDOUT and stop.is_set():
            if self._closing:
                raise Error(Status.ESTATE, "ipm.Receiver closed during receive_async")
            return
        if st == _ETIMEDOUT and first != ms:
            raise TimeoutError(st, f"{self.endpoint}: no message within {ms} ms")
        if st:
            raise_for(st)
        msg = self._msg
        try:
            n = msg.metadata_size
            m = Message(
                _string_at(msg.data, msg.size) if msg.size else b"",
                _string_at(msg.metadata, n).decode("utf-8", "replace") if n else "",
            )
        finally:
            _release(self._msgref)
        with self._lock:
            self._pending = m

    def _settle(self, what):
        """Before a new receive: refuse if a receive_async is still waiting
        (one user at a time), else wait for a cancelled one to let go of the
        receiver (at most one slice) and return what it kept, if anything."""
        inflight = self._inflight
        if inflight is not None:
            fut, stop = inflight
            if not fut.done():
                if not stop.is_set():
                    raise Error(
                        Status.ESTATE, f"{what}: a receive_async is waiting on this receiver"
                    )
                concurrent.futures.wait([fut])
        with self._lock:
            m, self._pending = self._pending, None
            self._inflight = None
        return m

    # -------------------------------------------------------------- the rest

    def subscribe(self, topic):
        """Receive topics starting with topic ("" = all); subscribers only."""
        st = _lib_.ipm_subscribe(self._h, _text(topic))
        if st:
            raise_for(st)

    def unsubscribe(self, topic):
        st = _lib_.ipm_unsubscribe(self._h, _text(topic))
        if st:
            raise_for(st)

    @property
    def endpoint(self):
        """The resolved endpoint (e.g. tcp://127.0.0.1:40123)."""
        e = _lib_.ipm_receiver_endpoint(self._h) if self._h else None
        return e.decode() if e else None

    def can_receive(self):
        return bool(self._h) and _lib_.ipm_receiver_can_receive(self._h)

    def stats(self):
        """{'messages', 'bytes', 'dropped'} received so far."""
        return _stats(_lib_.ipm_receiver_stats, self._h)

    def close(self):
        """Destroy the receiver; idempotent. Waits for a receive_async in
        progress to let go of it (at most one 50 ms slice)."""
        self._closing = True
        inflight = self._inflight
        if inflight is not None:
            inflight[1].set()  # the worker stops within a slice
            concurrent.futures.wait([inflight[0]])
        h, self._h = self._h, None
        if h:
            _lib_.ipm_receiver_destroy(h)
        w, self._worker = self._worker, None
        if w is not None:
            w.shutdown(wait=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Config:
    """A loaded INI file: ipm.Config(path).sender(name) / .receiver(name)."""

    def __init__(self, path):
        self._c = None
        c = ctypes.c_void_p()
        st = _lib_.ipm_config_load(_text(str(path)), _byref(c))
        if st:
            raise_for(st)
        self._c = c

    @property
    def names(self):
        """Connection section names, in file order ([ipm] left out)."""
        n = _lib_.ipm_config_count(self._c)
        return [_lib_.ipm_config_name_at(self._c, i).decode() for i in range(n)]

    def params(self, name):
        """Section `name` as a dict of its keys."""
        p = ctypes.c_void_p()
        st = _lib_.ipm_config_params(self._c, _text(name), _byref(p))
        if st:
            raise_for(st)
        try:
            return {
                _lib_.ipm_params_key_at(p, i).decode(): _lib_.ipm_params_value_at(p, i).decode()
                for i in range(_lib_.ipm_params_count(p))
            }
        finally:
            _lib_.ipm_params_free(p)

    def sender(self, name):
        """The connected ipm.Sender of section `name`."""
        h = ctypes.c_void_p()
        st = _lib_.ipm_config_sender(self._c, _text(name), _byref(h))
        if st:
            raise_for(st)
        return Sender(None, _handle=h)

    def receiver(self, name):
        """The connected ipm.Receiver of section `name` (subscribed to its topics)."""
        h = ctypes.c_void_p()
        st = _lib_.ipm_config_receiver(self._c, _text(name), _byref(h))
        if st:
            raise_for(st)
        return Receiver(None, _handle=h)

    def close(self):
        c, self._c = self._c, None
        if c:
            _lib_.ipm_config_free(c)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


for _cls in (Message, Sender, Receiver, Config,):
    _cls.__module__ = "ipm"  # shown as ipm.X in tracebacks and reprs
