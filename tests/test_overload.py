"""The admission gate alone: slots, a bounded queue, a bounded wait (the API's answers to a
saturated gate are in test_api.py, over its service)."""

from __future__ import annotations

import asyncio

import pytest

from api.admission import AdmissionGate, Shed


def test_gate_admits_up_to_its_slots_then_queues_then_sheds() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(slots=2, max_queue=1, max_wait_s=1.0, initial_service_s=0.01)
        assert await gate.enter() == 0.0
        assert await gate.enter() == 0.0
        waiting = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        assert gate.queued == 1
        refused = await gate.enter()  # the queue is full
        assert isinstance(refused, Shed) and refused.reason == "queue"
        gate.leave(0.01)  # the slot passes to the waiter
        waited = await waiting
        assert isinstance(waited, float) and 0 <= waited < 1.0
        assert gate.running == 2 and gate.queued == 0
        gate.leave(0.01)
        gate.leave(0.01)
        assert gate.running == 0

    asyncio.run(scenario())


def test_gate_sheds_a_request_that_would_wait_past_its_budget() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(slots=1, max_queue=10, max_wait_s=0.05, initial_service_s=0.02)
        assert await gate.enter() == 0.0
        # at 20 ms a request, one slot: the first waiter expects 20 ms, the second 40 ms
        first = asyncio.create_task(gate.enter())
        second = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        assert gate.queued == 2
        # the third would expect 60 ms: over the 50 ms budget, refused without waiting
        assert gate.expected_wait_s() == pytest.approx(0.06)
        third = await gate.enter()
        assert isinstance(third, Shed) and third.reason == "queue"
        assert third.expected_wait_ms == pytest.approx(60.0)
        # nobody leaves: the waiters give up at their budget rather than wait on
        for task in (first, second):
            outcome = await task
            assert isinstance(outcome, Shed) and outcome.reason == "waited"
        assert gate.queued == 0 and gate.running == 1
        gate.leave(0.02)
        assert gate.running == 0

    asyncio.run(scenario())


def test_gate_learns_the_service_time() -> None:
    gate = AdmissionGate(slots=1, max_queue=10, max_wait_s=1.0, initial_service_s=0.01)
    gate.running = 1
    for _ in range(200):
        gate.running = 1
        gate.leave(0.05)
    assert gate.service_s == pytest.approx(0.05, rel=0.01)
