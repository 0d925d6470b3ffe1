#!/usr/bin/env python3
"""A Python subscriber for any ipm publisher (scripts/demo.sh runs it against
a C publisher, ipm-send with ZmqPublisher or ShmPublisher).

    subscriber.py [-c COUNT] [-w TIMEOUT] [-T TOPIC]... CONNECTION

CONNECTION is a connection string with a `type` key, e.g.
'type=ZmqSubscriber; connection_string=tcp://127.0.0.1:5000'. Prints
'subscriber.py: TYPE ready on ENDPOINT' on stderr once connected (as ipm-recv
does), then one line per message on stdout; exits 0 after COUNT messages, 3
if none arrives within TIMEOUT (e.g. 500ms, 10s) of the previous one.
Needs the ipm package on PYTHONPATH (and IPM_LIBRARY when running from a
build tree).
"""

import argparse
import sys

import ipm


def parse_timeout(text):
    """'10s', '500ms' or '250' (ms) to seconds."""
    t = text.strip().lower()
    if t.endswith("ms"):
        return float(t[:-2]) / 1000.0
    if t.endswith("s"):
        return float(t[:-1])
    return float(t) / 1000.0


def subscribe(connection, topics=(), count=None, timeout=None, out=sys.stdout):
    """Receive from `connection`, subscribed to `topics` (all if none), and
    print each message; returns how many were printed. Raises
    ipm.TimeoutError if `timeout` seconds pass without a message."""
    with ipm.Receiver(connection) as sub:
        for t in topics or [""]:
            sub.subscribe(t)
        kind = connection.split("type=", 1)[-1].split(";", 1)[0].strip()
        print(f"subscriber.py: {kind} ready on {sub.endpoint}", file=sys.stderr, flush=True)
        n = 0
        while count is None or n < count:
            m = sub.receive(timeout=timeout)
            n += 1
            body = m.data.decode("utf-8", "backslashreplace")
            print(f"python got #{n} [{m.metadata}] {len(m.data)} B: {body}", file=out, flush=True)
        return n


def main(argv=None):
    ap = argparse.ArgumentParser(description="Print what an ipm publisher publishes.")
    ap.add_argument("connection")
    ap.add_argument("-c", "--count", type=int, help="exit after COUNT messages")
    ap.add_argument("-w", "--timeout", type=parse_timeout, help="give up after TIMEOUT without a message")
    ap.add_argument("-T", "--topic", action="append", default=[], help="topic prefix (repeatable)")
    a = ap.parse_args(argv)
    try:
        subscribe(a.connection, a.topic, a.count, a.timeout)
    except ipm.TimeoutError as e:
        print(f"subscriber.py: {e}", file=sys.stderr)
        return 3
    except ipm.Error as e:
        print(f"subscriber.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
