"""The per-chat pacer: a burst of three, then one a second, in order, per chat."""

from __future__ import annotations

import pytest

from handlers.pacing import ChatPacer
from models.buttons import Message


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        """The current test time."""
        return self.now


def texts(messages: list[Message]) -> list[str]:
    """Just the texts, to compare orders."""
    return [m.text for m in messages]


def test_a_quiet_chat_takes_a_burst_of_three_at_once() -> None:
    pacer = ChatPacer(clock=Ticks())
    for _ in range(3):
        assert pacer.wait(1) == 0.0
        pacer.take(1)
    assert pacer.wait(1) == 1.0


@pytest.mark.parametrize(
    ("after", "allowed", "then_wait"),
    [
        (0.0, 0, 1.0),
        (0.5, 0, 0.5),
        (1.0, 1, 1.0),  # one a second once the burst is spent
        (3.0, 3, 1.0),
        (60.0, 3, 1.0),  # the allowance refills to three, never more
    ],
)
def test_after_a_burst_the_allowance_refills_one_a_second(
    after: float, allowed: int, then_wait: float
) -> None:
    ticks = Ticks()
    pacer = ChatPacer(clock=ticks)
    for _ in range(3):
        pacer.take(1)
    ticks.now += after
    taken = 0
    while pacer.wait(1) == 0.0:
        pacer.take(1)
        taken += 1
    assert (taken, pacer.wait(1)) == (allowed, pytest.approx(then_wait))


def test_each_chat_has_its_own_allowance() -> None:
    pacer = ChatPacer(clock=Ticks())
    for _ in range(3):
        pacer.take(1)
    assert pacer.wait(1) == 1.0 and pacer.wait(2) == 0.0


def test_a_slow_send_counts_from_when_it_finished() -> None:
    ticks = Ticks()
    pacer = ChatPacer(burst=1, clock=ticks)
    started = ticks.now
    pacer.take(1)
    ticks.now += 0.4
    pacer.settle(1, started)
    assert pacer.wait(1) == pytest.approx(1.0)


def test_a_flood_wait_holds_the_chat_then_allows_one_at_a_time() -> None:
    ticks = Ticks()
    pacer = ChatPacer(clock=ticks)
    pacer.hold(1, 5)
    assert pacer.wait(1) == 5.0
    ticks.now += 5
    pacer.take(1)
    assert pacer.wait(1) == pytest.approx(1.0)


def test_split_sends_what_fits_now_and_queues_the_rest_behind_earlier_ones() -> None:
    ticks = Ticks()
    pacer = ChatPacer(clock=ticks)
    first = [Message(f"m{i}") for i in range(5)]
    assert texts(pacer.split(1, first)) == ["m0", "m1", "m2"]
    assert pacer.busy(1)
    ticks.now += 10  # even with the allowance back, a later reply waits its turn
    assert pacer.split(1, [Message("later")]) == []
    pacer.requeue(1, [Message("retry")])
    assert texts(list(pacer.queues[1])) == ["retry", "m3", "m4", "later"]
    assert texts(pacer.split(2, [Message("other chat")])) == ["other chat"]


def test_unpaced_never_waits() -> None:
    pacer = ChatPacer.unpaced()
    messages = [Message(str(i)) for i in range(20)]
    assert pacer.split(1, messages) == messages and not pacer.busy(1)
