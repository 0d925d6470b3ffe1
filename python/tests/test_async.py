"""Receiver.receive_async for asyncio: it never blocks the event loop, is
woken by a message at once, times out, and honours cancellation without
losing a message."""

import asyncio
import time

import pytest

import ipm


def shm_pair(name):
    rx = ipm.Receiver(f"type=ShmReceiver; connection_string=shm://{name}")
    tx = ipm.Sender(f"type=ShmSender; connection_string=shm://{name}")
    return rx, tx


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_receive_async_does_not_block_the_loop(name):
    rx, tx = shm_pair(name)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        t = asyncio.ensure_future(ticker())
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, tx.send, b"later", None, "async")
        t0 = time.monotonic()
        m = await rx.receive_async()
        waited = time.monotonic() - t0
        t.cancel()
        assert m.data == b"later" and m.metadata == "async"
        assert 0.25 <= waited < 2.0
        assert ticks >= 20  # the loop kept running while we waited

    with rx, tx:
        run(main())


def test_receive_async_timeout(name):
    rx, tx = shm_pair(name)

    async def main():
        t0 = time.monotonic()
        with pytest.raises(ipm.TimeoutError) as e:
            await rx.receive_async(timeout=0.2)
        assert time.monotonic() - t0 >= 0.2
        assert e.value.status == ipm.Status.ETIMEDOUT
        tx.send(b"now")
        assert (await rx.receive_async(timeout=0)).data == b"now"

    with rx, tx:
        run(main())


def test_cancellation_is_prompt_and_loses_nothing(name):
    rx, tx = shm_pair(name)

    async def main():
        task = asyncio.ensure_future(rx.receive_async())
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - t0 < 0.5
        # wait_for cancels on its own timeout the same way.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(rx.receive_async(), 0.1)
        # A message sent right at a cancellation is kept for the next call.
        for i in range(20):
            task = asyncio.ensure_future(rx.receive_async())
            await asyncio.sleep(0.01)
            tx.send(b"%d" % i)
            task.cancel()
            try:
                got = await task
            except asyncio.CancelledError:
                got = await rx.receive_async(timeout=2)
            assert got.data == b"%d" % i
        with pytest.raises(ipm.TimeoutError):
            rx.receive(0.05)  # nothing duplicated either

    with rx, tx:
        run(main())


def test_sync_receive_after_cancelled_async(name):
    rx, tx = shm_pair(name)

    async def main():
        task = asyncio.ensure_future(rx.receive_async())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with rx, tx:
        run(main())
        tx.send(b"sync")
        assert rx.receive(2).data == b"sync"


def test_one_waiter_at_a_time(name):
    rx, tx = shm_pair(name)

    async def main():
        first = asyncio.ensure_future(rx.receive_async())
        await asyncio.sleep(0.05)
        with pytest.raises(ipm.Error) as e:
            await rx.receive_async()
        assert e.value.status == ipm.Status.ESTATE
        with pytest.raises(ipm.Error):
            rx.receive(0)
        tx.send(b"one")
        assert (await first).data == b"one"

    with rx, tx:
        run(main())


def test_many_receivers_at_once(name):
    """Each receiver waits on its own thread: twenty waiting together never
    starve each other (the loop's shared executor has fewer threads)."""
    pairs = [shm_pair(f"{name}-{i}") for i in range(20)]

    async def main():
        tasks = [asyncio.ensure_future(rx.receive_async(timeout=10)) for rx, _ in pairs]
        await asyncio.sleep(0.1)
        for i, (_, tx) in enumerate(reversed(pairs)):
            tx.send(b"%d" % (len(pairs) - 1 - i))
        got = await asyncio.gather(*tasks)
        assert [m.data for m in got] == [b"%d" % i for i in range(len(pairs))]

    try:
        run(main())
    finally:
        for rx, tx in pairs:
            rx.close()
            tx.close()


def test_close_during_receive_async(name):
    rx, tx = shm_pair(name)

    async def main():
        task = asyncio.ensure_future(rx.receive_async())
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, rx.close)
        assert time.monotonic() - t0 < 1.0
        with pytest.raises(ipm.Error) as e:
            await task
        assert e.value.status == ipm.Status.ESTATE

    with tx:
        run(main())
