#!/usr/bin/env python3
"""Python binding cost per call: 64 B send + receive pairs per second over
shared memory (ShmSender -> ShmReceiver) in one process.

    IPM_LIBRARY=build/lib/libipm.so PYTHONPATH=python python3 python/bench_pairs.py [-n N] [-s SIZE] [-r ROUNDS]

Prints the best of ROUNDS rounds (a benchmark figure; the target is >= 200 k
pairs/s). Each pair is ipm.Sender.send(payload, metadata) then
ipm.Receiver.receive() returning an ipm.Message with .data as bytes.
"""

import argparse
import os
import time

import ipm


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=200000, help="pairs per round")
    ap.add_argument("-s", "--size", type=int, default=64, help="payload bytes")
    ap.add_argument("-r", "--rounds", type=int, default=5)
    ap.add_argument("-m", "--metadata", default="tp", help="metadata of every message")
    a = ap.parse_args()

    name = f"shm://ipm-bench-pairs-{os.getpid()}"
    payload = bytes(range(256)) * (a.size // 256 + 1)
    payload = payload[: a.size]
    best = 0.0
    with ipm.Receiver(f"type=ShmReceiver; connection_string={name}") as rx, ipm.Sender(
        f"type=ShmSender; connection_string={name}"
    ) as tx:
        send, receive, md = tx.send, rx.receive, a.metadata
        for _ in range(1000):  # warm up
            send(payload, None, md)
            receive()
        for r in range(a.rounds):
            t0 = time.perf_counter()
            for _ in range(a.n):
                send(payload, None, md)
                m = receive()
            dt = time.perf_counter() - t0
            assert m.data == payload and m.metadata == md
            rate = a.n / dt
            best = max(best, rate)
            print(f"round {r + 1}: {rate / 1e3:.1f} k pairs/s ({dt / a.n * 1e6:.2f} us per pair)")
    print(f"best: {best / 1e3:.1f} k pairs/s of {a.size} B send+receive over shm, one process")


if __name__ == "__main__":
    main()
