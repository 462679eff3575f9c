"""The rate cap and the adaptive limit of requests in flight, on a fake clock."""

from __future__ import annotations

import logging
import threading

import pytest

from sync.throttle import Concurrency, RateLimit


class Clock:
    """A monotonic clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_rate_limit_spaces_requests_evenly() -> None:
    """Four requests at 2 per second start 0.5 s apart, the first at once."""
    clock = Clock()
    rate = RateLimit(2, clock=clock, sleep=clock.sleep)

    for _ in range(4):
        rate.wait()

    assert clock.slept == [0.5, 0.5, 0.5]
    assert clock.now == 101.5


def test_rate_limit_does_not_save_up_a_burst() -> None:
    """After a quiet spell, requests are still spaced: no burst of saved-up starts."""
    clock = Clock()
    rate = RateLimit(10, clock=clock, sleep=clock.sleep)
    rate.wait()

    clock.now += 5
    rate.wait()
    rate.wait()

    assert clock.slept == [0.1]


def test_rate_limit_off_never_waits() -> None:
    """Without --max-rps nothing waits."""
    clock = Clock()
    rate = RateLimit(None, clock=clock, sleep=clock.sleep)

    for _ in range(100):
        rate.wait()

    assert clock.slept == []


def test_rate_limit_is_shared_by_threads() -> None:
    """Eight threads together start requests no faster than the cap."""
    clock = Clock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.slept.append(round(seconds, 6))

    rate = RateLimit(4, clock=clock, sleep=sleep)
    threads = [threading.Thread(target=rate.wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(clock.slept) == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


def test_concurrency_halves_on_busy_and_grows_by_one_per_round() -> None:
    """A busy answer halves the limit; a round of successes adds one place."""
    limit = Concurrency(16)

    limit.release(limit.acquire(), busy=True)
    after_busy = limit.limit
    for _ in range(8):
        limit.release(limit.acquire(), ok=True)

    assert after_busy == 8
    assert limit.limit == 9


def test_concurrency_one_decrease_per_round_of_requests() -> None:
    """Busy answers to requests sent before a decrease do not decrease it again."""
    limit = Concurrency(16)
    tickets = [limit.acquire() for _ in range(16)]

    for ticket in tickets:
        limit.release(ticket, busy=True)

    assert limit.limit == 8


def test_concurrency_stays_between_one_and_the_ceiling() -> None:
    """The limit never falls below one nor rises above the configured concurrency."""
    limit = Concurrency(4)
    for _ in range(10):
        limit.release(limit.acquire(), busy=True)
    lowest = limit.limit
    for _ in range(200):
        limit.release(limit.acquire(), ok=True)

    assert lowest == 1
    assert limit.limit == 4


def test_concurrency_blocks_beyond_the_limit() -> None:
    """A request beyond the limit waits until one in flight ends."""
    limit = Concurrency(2)
    limit.release(limit.acquire(), busy=True)  # now 1
    first = limit.acquire()
    started = threading.Event()

    def second() -> None:
        limit.release(limit.acquire())
        started.set()

    thread = threading.Thread(target=second)
    thread.start()
    waited = not started.wait(0.05)
    limit.release(first)
    thread.join()

    assert waited
    assert started.is_set()


def test_concurrency_logs_changes_calmly(caplog: pytest.LogCaptureFixture) -> None:
    """The first change is logged at INFO; changes within a minute go to DEBUG."""
    clock = Clock()
    limit = Concurrency(8, clock=clock)
    caplog.set_level(logging.DEBUG, logger="sync.throttle")

    limit.release(limit.acquire(), busy=True)
    for _ in range(4):
        limit.release(limit.acquire(), ok=True)
    clock.now += 61
    limit.release(limit.acquire(), busy=True)

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "INFO",
            "Kianda says it is busy: sending at most 4 requests at once (was 8)",
        ),
        ("DEBUG", "Kianda keeps up: sending up to 5 requests at once (at most 8)"),
        (
            "INFO",
            "Kianda says it is busy: sending at most 2 requests at once (was 5)",
        ),
    ]


def test_concurrency_stop_wakes_a_waiting_thread_without_a_place() -> None:
    """A thread waiting for a place is woken by stop() and told not to send."""
    limit = Concurrency(1)
    first = limit.acquire()
    got: list[int | None] = []
    waiter = threading.Thread(target=lambda: got.append(limit.acquire()))
    waiter.start()

    limit.stop()
    waiter.join(timeout=5)

    assert first == 0
    assert got == [None]
    assert limit.acquire() is None
