"""A C tool (ipm-send, ipm-recv) and this Python process exchanging
messages, both directions, over ZeroMQ (tcp, ipc, pub/sub) and shared memory
(queue and ring); and two Python processes over shared memory."""

import subprocess
import sys
import textwrap

import pytest

import ipm
from conftest import tool

MESSAGES = [b"run 42 started", b"trigger record 7: 3 TPs", b"run 42 stopped"]


@pytest.mark.parametrize("transport", ["tcp", "ipc", "shm"])
def test_c_sender_to_python_receiver(transport, name, procs, tmp_path):
    family, bind = {
        "tcp": ("Zmq", "tcp://127.0.0.1:*"),
        "ipc": ("Zmq", f"ipc://{tmp_path}/{name}.ipc"),
        "shm": ("Shm", f"shm://{name}"),
    }[transport]
    with ipm.Receiver(f"type={family}Receiver; connection_string={bind}") as rx:
        args = [tool("ipm-send"), "-w", "10s", "-T", "from-c"]
        for m in MESSAGES:
            args += ["-m", m.decode()]
        p = procs(args + [f"type={family}Sender; connection_string={rx.endpoint}"])
        got = [rx.receive(timeout=10) for _ in MESSAGES]
        rc, out, err = p.finish()
        assert rc == 0, err
        assert [m.data for m in got] == MESSAGES
        assert all(m.metadata == "from-c" for m in got)


@pytest.mark.parametrize("transport", ["tcp", "ipc", "shm"])
def test_python_sender_to_c_receiver(transport, name, procs, tmp_path):
    family, bind = {
        "tcp": ("Zmq", "tcp://127.0.0.1:*"),
        "ipc": ("Zmq", f"ipc://{tmp_path}/{name}.ipc"),
        "shm": ("Shm", f"shm://{name}"),
    }[transport]
    p = procs(
        [tool("ipm-recv"), "-c", str(len(MESSAGES)), "-w", "10s",
         f"type={family}Receiver; connection_string={bind}"]
    )
    endpoint = p.wait_stderr("ready on").split(" ready on ")[1].strip()
    with ipm.Sender(f"type={family}Sender; connection_string={endpoint}") as tx:
        for m in MESSAGES:
            tx.send(m, timeout=10, metadata="from-python")
        rc, out, err = p.finish()
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == len(MESSAGES)
    for i, (line, m) in enumerate(zip(lines, MESSAGES)):
        assert line == f"#{i + 1} [from-python] {len(m)} B: {m.decode()}" or (
            line.startswith(f"#{i + 1} [from-python] ") and line.endswith(": " + m.decode())
        ), line


@pytest.mark.parametrize("family", ["Zmq", "Shm"])
def test_c_publisher_to_python_subscriber(family, name, procs):
    bind = "tcp://127.0.0.1:*" if family == "Zmq" else f"shm://{name}"
    p = procs(
        [tool("ipm-send"), "-v", "-w", "10s", "-T", "tp-run42",
         f"type={family}Publisher; connection_string={bind}"],
        stdin=True,
    )
    endpoint = p.wait_stderr("connected to").split(" connected to ")[1].strip()
    with ipm.Receiver(
        f"type={family}Subscriber; connection_string={endpoint}; topics=tp"
    ) as sub:
        # A subscription reaches a ZeroMQ publisher asynchronously: publish
        # warm-up lines until one arrives, then the real ones.
        for _ in range(200):
            p.write("warm-up\n")
            try:
                if sub.receive(timeout=0.05).data == b"warm-up":
                    break
            except ipm.TimeoutError:
                pass
        else:
            pytest.fail("the subscriber never received from the C publisher")
        p.write("".join(m.decode() + "\n" for m in MESSAGES))
        p.close_stdin()
        got = []
        while len(got) < len(MESSAGES):
            m = sub.receive(timeout=10)
            if m.data != b"warm-up":
                got.append(m)
        assert [m.data for m in got] == MESSAGES
        assert {m.metadata for m in got} == {"tp-run42"}
    rc, out, err = p.finish()
    assert rc == 0, err


CHILD = textwrap.dedent(
    """
    import sys, ipm
    spec, count = sys.argv[1], int(sys.argv[2])
    with ipm.Receiver(spec) as rx:
        print("ready", rx.endpoint, flush=True)
        for i in range(count):
            m = rx.receive(timeout=20)
            assert m.data == i.to_bytes(4, "little") * (1 + i % 50), i
            assert m.metadata == "seq %d" % i
    print("received", count, flush=True)
    """
)


def test_python_to_python_process_over_shm(name):
    count = 5000
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"type=ShmReceiver; connection_string=shm://{name}",
         str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().split() == ["ready", f"shm://{name}"]
        with ipm.Sender(f"type=ShmSender; connection_string=shm://{name}") as tx:
            for i in range(count):
                tx.send(i.to_bytes(4, "little") * (1 + i % 50), timeout=20, metadata=f"seq {i}")
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        assert out.strip() == f"received {count}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_example_subscriber_with_c_publisher(name, procs):
    """python/examples/subscriber.py, as scripts/demo.sh runs it."""
    import os

    example = os.path.join(os.path.dirname(__file__), "..", "examples", "subscriber.py")
    pub = procs(
        [tool("ipm-send"), "-v", "-w", "10s", "-T", "tp-7",
         f"type=ShmPublisher; connection_string=shm://{name}"],
        stdin=True,
    )
    endpoint = pub.wait_stderr("connected to").split(" connected to ")[1].strip()
    sub = procs(
        [sys.executable, example, "-c", "3", "-w", "10s", "-T", "tp",
         f"type=ShmSubscriber; connection_string={endpoint}"]
    )
    assert sub.wait_stderr("ready on").endswith(endpoint)
    pub.write("".join(m.decode() + "\n" for m in MESSAGES))
    pub.close_stdin()
    rc, out, err = sub.finish()
    assert rc == 0, err
    assert out.splitlines() == [
        f"python got #{i + 1} [tp-7] {len(m)} B: {m.decode()}" for i, m in enumerate(MESSAGES)
    ]
    assert pub.finish()[0] == 0
