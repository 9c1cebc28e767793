"""The capture-to-worker hand-off: a blocking slot refills from its watermark, one wake-up for several frames."""

from __future__ import annotations

import threading
import time

import pytest

from edge_sdk.pipeline.slot import BlockingSlot


def test_a_producer_waiting_on_a_full_slot_is_woken_at_the_watermark_and_refills_it() -> None:
    slot: BlockingSlot[int] = BlockingSlot(4, refill_at=2)
    taken: list[int] = []
    puts_after_get: list[int] = []  # values put so far, seen a while after each get

    def produce() -> None:
        for i in range(12):
            slot.put(i)
        slot.close()

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.1)  # the slot fills: 4 queued, the producer waits
    while (value := slot.get(timeout_s=5)) is not None:
        taken.append(value)
        time.sleep(0.05)  # a consumer slower than the producer: it has had time to put what it may
        puts_after_get.append(slot.puts)
    producer.join(5)
    assert taken == list(range(12))  # nothing dropped, in order
    # one free place does not wake the producer (4 put); two do, and it fills both (6 put)
    assert puts_after_get[:2] == [4, 6], puts_after_get


def test_the_default_watermark_wakes_the_producer_at_the_first_free_place() -> None:
    slot: BlockingSlot[int] = BlockingSlot(2)
    assert slot.refill_at == 1
    slot.put(0)
    slot.put(1)
    done = threading.Event()
    threading.Thread(target=lambda: (slot.put(2), done.set())).start()
    assert not done.wait(0.1)
    assert slot.get() == 0
    assert done.wait(2)


@pytest.mark.parametrize("refill_at", [-1, 4])
def test_a_watermark_outside_the_slot_is_refused(refill_at: int) -> None:
    with pytest.raises(ValueError, match="refill_at must be 0 to capacity - 1"):
        BlockingSlot(4, refill_at=refill_at)
