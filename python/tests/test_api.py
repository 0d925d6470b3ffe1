"""The Python API of API.md section 9 in one process: open by connection
string or dict, send and receive every bytes-like type, metadata, timeouts,
errors with status and message, stats, endpoint, context managers, pub/sub
topics, INI configs."""

import threading
import time

import pytest

import ipm


def shm_pair(name, extra=""):
    rx = ipm.Receiver(f"type=ShmReceiver; connection_string=shm://{name}{extra}")
    tx = ipm.Sender(f"type=ShmSender; connection_string=shm://{name}")
    return rx, tx


def test_library_is_loaded():
    assert ipm.version().startswith("1.")
    assert ipm.library_path


def test_send_receive_bytes_like(name):
    rx, tx = shm_pair(name)
    with rx, tx:
        assert tx.can_send() and rx.can_receive()
        tx.send(b"hello", metadata="greeting")
        tx.send(bytearray(b"bytearray"))
        tx.send(memoryview(b"..view..")[2:6])
        tx.send(b"")
        import array

        tx.send(array.array("i", [1, 2, 3]), timeout=1)
        m = rx.receive(timeout=1)
        assert isinstance(m, ipm.Message)
        assert type(m.data) is bytes and m.data == b"hello"
        assert type(m.metadata) is str and m.metadata == "greeting"
        assert rx.receive(1).data == b"bytearray"
        assert rx.receive(1).data == b"view"
        empty = rx.receive(1)
        assert empty.data == b"" and empty.metadata == ""
        assert rx.receive(1).data == array.array("i", [1, 2, 3]).tobytes()
        with pytest.raises(TypeError):
            tx.send("a str is not bytes")


def test_open_with_dict_and_endpoint():
    with ipm.Receiver({"type": "ZmqReceiver", "connection_string": "tcp://127.0.0.1:*"}) as rx:
        ep = rx.endpoint
        assert ep.startswith("tcp://127.0.0.1:") and not ep.endswith("*")
        with ipm.Sender({"type": "ZmqSender", "connection_string": ep, "send_hwm": 100}) as tx:
            assert tx.endpoint == ep
            tx.send(b"over tcp", timeout=5, metadata="m")
            m = rx.receive(timeout=5)
            assert (m.data, m.metadata) == (b"over tcp", "m")


def test_order_and_sizes_over_zmq(name):
    with ipm.Receiver(f"type=ZmqReceiver; connection_string=inproc://{name}") as rx, ipm.Sender(
        f"type=ZmqSender; connection_string=inproc://{name}"
    ) as tx:
        big = bytes(range(256)) * (16 << 10)  # 4 MiB
        for i in range(500):  # within the default high-water marks
            tx.send(i.to_bytes(4, "little"), timeout=5, metadata=str(i))
        tx.send(big, timeout=5)
        for i in range(500):
            m = rx.receive(5)
            assert int.from_bytes(m.data, "little") == i and m.metadata == str(i)
        assert rx.receive(5).data == big


def test_timeouts(name):
    rx, tx = shm_pair(name)
    with rx, tx:
        t0 = time.monotonic()
        with pytest.raises(ipm.TimeoutError) as e:
            rx.receive(timeout=0.1)
        assert time.monotonic() - t0 >= 0.1
        assert isinstance(e.value, ipm.Error)
        assert e.value.status == ipm.Status.ETIMEDOUT
        assert name in str(e.value)
        # Longer than one internal slice: still exact.
        t0 = time.monotonic()
        with pytest.raises(ipm.TimeoutError) as e:
            rx.receive(timeout=0.45)
        assert 0.45 <= time.monotonic() - t0 < 2.0
        assert "450 ms" in str(e.value)
        t0 = time.monotonic()
        with pytest.raises(ipm.TimeoutError):
            rx.receive(timeout=0)
        assert time.monotonic() - t0 < 0.5


def test_send_timeout_full_queue(name):
    rx, tx = shm_pair(name, "; buffer_size=4096")
    with rx, tx:
        block = b"x" * 1000
        sent = 0
        with pytest.raises(ipm.TimeoutError):
            for _ in range(100):
                tx.send(block, timeout=0.01)
                sent += 1
        assert 0 < sent < 100
        for _ in range(sent):
            assert rx.receive(1).data == block  # nothing half-sent
        with pytest.raises(ipm.TimeoutError):
            rx.receive(0.05)


def test_errors_carry_status_and_message(name):
    with pytest.raises(ipm.ConfigError) as e:
        ipm.Sender(f"type=ShmSender; conection_string=shm://{name}")
    assert e.value.status == ipm.Status.ECONFIG
    assert "did you mean 'connection_string'" in e.value.message
    with pytest.raises(ipm.Error) as e:
        ipm.Receiver("type=NoSuchReceiver; connection_string=tcp://127.0.0.1:1")
    assert e.value.status == ipm.Status.ENOPLUGIN
    assert "NoSuchReceiver" in str(e.value)
    with pytest.raises(ipm.ConfigError):
        ipm.Receiver("type=ZmqReceiver; a=1; a=2")
    with pytest.raises(ipm.Error) as e:
        ipm.Receiver(f"type=ShmSender; connection_string=shm://{name}")  # a sender type
    assert e.value.status == ipm.Status.EPLUGIN


def test_receive_exact(name):
    rx, tx = shm_pair(name)
    with rx, tx:
        tx.send(b"four")
        with pytest.raises(ipm.Error) as e:
            rx.receive_exact(7, timeout=1)
        assert e.value.status == ipm.Status.ESIZE
        with pytest.raises(ipm.TimeoutError):
            rx.receive(0.05)  # consumed
        tx.send(b"four")
        assert rx.receive_exact(4, timeout=1).data == b"four"


def test_stats_and_close(name):
    rx, tx = shm_pair(name)
    for i in range(5):
        tx.send(b"12345678", metadata="s")
    for i in range(5):
        rx.receive(1)
    assert tx.stats() == {"messages": 5, "bytes": 40, "dropped": 0}
    assert rx.stats() == {"messages": 5, "bytes": 40, "dropped": 0}
    tx.close()
    tx.close()  # idempotent
    with pytest.raises(ipm.Error) as e:
        tx.send(b"x")
    assert e.value.status == ipm.Status.ESTATE
    assert not tx.can_send()
    with rx:
        pass
    assert not rx.can_receive()
    with pytest.raises(ipm.Error):
        rx.receive(0)


def test_pubsub_topics(name):
    with ipm.Sender(f"type=ShmPublisher; connection_string=shm://{name}") as pub, ipm.Receiver(
        f"type=ShmSubscriber; connection_string=shm://{name}; topics=tp"
    ) as sub:
        pub.send(b"no", metadata="hsi")
        pub.send(b"yes", metadata="tp-1")
        m = sub.receive(1)
        assert (m.data, m.metadata) == (b"yes", "tp-1")
        sub.subscribe("hsi")
        pub.send(b"now", metadata="hsi-2")
        assert sub.receive(1).metadata == "hsi-2"
        sub.unsubscribe("tp")
        pub.send(b"gone", metadata="tp-2")
        with pytest.raises(ipm.TimeoutError):
            sub.receive(0.05)
        assert sub.stats()["messages"] == 2
    with ipm.Receiver(f"type=ShmReceiver; connection_string=shm://{name}-q") as rx:
        with pytest.raises(ipm.Error) as e:
            rx.subscribe("x")
        assert e.value.status == ipm.Status.ENOTSUP


def test_config(tmp_path, name):
    ini = tmp_path / "daq.ini"
    ini.write_text(
        "[ipm]\nzmq_io_threads = 1\n\n"
        f"[data_in]\ntype = ShmReceiver\nconnection_string = shm://{name}\n\n"
        f"[data_out]\ntype = ShmSender\nconnection_string = shm://{name}\n"
    )
    with ipm.Config(ini) as cfg:
        assert cfg.names == ["data_in", "data_out"]
        assert cfg.params("data_out") == {"type": "ShmSender", "connection_string": f"shm://{name}"}
        with cfg.receiver("data_in") as rx, cfg.sender("data_out") as tx:
            tx.send(b"configured", metadata="c")
            assert rx.receive(1) == ipm.Message(b"configured", "c")
        with pytest.raises(ipm.Error):
            cfg.sender("absent")
    bad = tmp_path / "bad.ini"
    bad.write_text("[x]\ntype = ShmSender\nconection_string = shm://y\n")
    with ipm.Config(bad) as cfg, pytest.raises(ipm.ConfigError) as e:
        cfg.sender("x")
    assert "conection_string" in str(e.value)
    with pytest.raises(ipm.Error) as e:
        ipm.Config(tmp_path / "missing.ini")
    assert "missing.ini" in str(e.value)


def test_iteration(name):
    rx, tx = shm_pair(name)
    with rx, tx:
        for i in range(3):
            tx.send(bytes([i]))
        got = []
        for m in rx:
            got.append(m.data)
            if len(got) == 3:
                break
        assert got == [b"\x00", b"\x01", b"\x02"]


def test_blocking_receive_releases_the_gil(name):
    """A thread blocked in receive() lets the others run (ctypes.CDLL
    releases the GIL), and is woken by the message at once."""
    rx, tx = shm_pair(name)
    with rx, tx:
        got = []
        t = threading.Thread(target=lambda: got.append(rx.receive(timeout=10)))
        t.start()
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 0.3:
            n += 1
        assert n > 10000  # the main thread ran while the other waited
        tx.send(b"wake")
        t.join(5)
        assert not t.is_alive() and got[0].data == b"wake"
