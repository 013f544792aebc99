"""The outbox of accepted lines: posts in order and by size, counts what it drops, runs one drain at a
time, and retries only transient failures."""

from __future__ import annotations

import pytest

from intentedge.events.outbox import STALE_SECONDS, Outbox, post_body, retryable

from tests.core.builders import NOW


def test_the_outbox_posts_in_order_by_size_and_counts_what_it_drops():
    outbox = Outbox(capacity_bytes=30, post_bytes=21)
    assert [outbox.add(f'{{"n":{n}}}') for n in range(5)] == [0, 0, 0, 0, 1]   # 7 bytes each, 35 > 30
    assert outbox.dropped == 1
    first = outbox.take()
    assert first == ['{"n":1}', '{"n":2}']          # 2 lines and a comma each fit in 21 bytes, 3 do not
    outbox.sent(first)
    rest = outbox.take()
    outbox.failed(rest)
    assert (outbox.pending, outbox.forwarded, outbox.dropped) == (0, 2, 3)
    assert post_body(first) == '{"v":1,"batches":[{"n":1},{"n":2}]}'


def test_a_line_larger_than_a_post_still_goes_alone():
    outbox = Outbox(post_bytes=4)
    outbox.add('{"big":1}')
    outbox.add('{"n":2}')
    assert outbox.take() == ['{"big":1}'] and outbox.take() == ['{"n":2}'] and outbox.take() == []


def test_one_drain_at_a_time_and_a_stale_one_does_not_block():
    outbox = Outbox()
    assert outbox.start_drain(NOW) is True
    assert outbox.start_drain(NOW + 1) is False
    assert outbox.start_drain(NOW + STALE_SECONDS + 1) is True   # the runtime abandoned the first
    outbox.end_drain()
    assert outbox.start_drain(NOW + 70) is True


@pytest.mark.parametrize("status, retry", [(500, True), (503, True), (408, True), (429, True),
                                           (400, False), (401, False), (413, False)])
def test_only_transient_failures_are_retried(status, retry):
    assert retryable(status) is retry
