"""The sliding-window throttle: DRF's rates at a constant cost per request."""

import pytest
from django.core.cache import cache

from retailops.throttling import SlidingWindowRateThrottle


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttle_at():
    cache.clear()

    def make(clock: Clock, rate: str = "4/min"):
        class Throttle(SlidingWindowRateThrottle):
            THROTTLE_RATES = {"test": rate}
            scope = "test"
            timer = staticmethod(clock)

            def get_cache_key(self, request, view):
                return "throttle_test_partner"

        return Throttle

    yield make
    cache.clear()


def requests(throttle_class, count: int) -> list[bool]:
    return [throttle_class().allow_request(None, None) for _ in range(count)]


def test_the_rate_holds_within_a_window_and_refusals_are_not_counted(throttle_at):
    clock = Clock(6_000.0)  # the start of a minute
    throttle = throttle_at(clock)

    assert requests(throttle, 6) == [True] * 4 + [False] * 2
    clock.now += 59
    assert requests(throttle, 1) == [False]


def test_the_previous_window_counts_for_as_much_of_it_as_the_sliding_window_covers(throttle_at):
    clock = Clock(6_000.0)
    throttle = throttle_at(clock)
    assert requests(throttle, 4) == [True] * 4

    clock.now = 6_000.0 + 60 + 30  # half way through the next minute: 4 × 0.5 = 2 still count
    assert requests(throttle, 3) == [True, True, False]
    clock.now = 6_000.0 + 120 + 1  # a minute on, the previous window (2 requests) nearly gone
    assert requests(throttle, 3) == [True, True, True]


def test_retry_after_is_when_the_estimate_drops_under_the_rate(throttle_at):
    clock = Clock(6_000.0 + 15)
    throttle_class = throttle_at(clock)
    requests(throttle_class, 4)
    refused = throttle_class()
    assert refused.allow_request(None, None) is False
    assert refused.wait() == 45  # this window ends in 45 s; from then its 4 count fully, fading at once

    clock.now = 6_000.0 + 60 + 10  # the 4 now weigh 3.33: one more fits, then the next must wait
    assert requests(throttle_class, 1) == [True]
    refused = throttle_class()
    assert refused.allow_request(None, None) is False
    assert refused.wait() == 5  # 15 s into the window the 4 weigh 3, and 3 + 1 is the rate
    clock.now += 4.5
    assert requests(throttle_class, 1) == [False]
    clock.now += 1
    assert requests(throttle_class, 1) == [True]
