"""The event bus: fan-out by kind, a bounded queue that loses its oldest events, a lossless one."""

from __future__ import annotations

import threading

from kiosk.events import BarcodeScanned, EventBus, ScannerStatusChanged, SessionEnded


def _drain(sub, limit=1000):
    events = []
    while (event := sub.get(timeout_s=0)) is not None and len(events) < limit:
        events.append(event)
    return events


def test_subscribers_get_only_the_kinds_they_asked_for():
    bus = EventBus()
    everything, scans = bus.subscribe(), bus.subscribe((BarcodeScanned,))
    bus.publish(ScannerStatusChanged(True))
    bus.publish(BarcodeScanned("SX00001"))
    assert [type(e) for e in _drain(everything)] == [ScannerStatusChanged, BarcodeScanned]
    assert [e.code for e in _drain(scans)] == ["SX00001"]


def test_a_reader_that_stops_reading_loses_its_oldest_events_not_the_newest():
    bus = EventBus(maxsize=3)
    sleepy = bus.subscribe()
    for n in range(10):
        bus.publish(SessionEnded(f"r{n}"))
    assert [e.reason for e in _drain(sleepy)] == ["r7", "r8", "r9"]


def test_the_scan_workers_subscription_never_drops_a_scan():
    bus = EventBus(maxsize=3)
    worker = bus.subscribe((BarcodeScanned,), lossless=True)
    for n in range(500):
        bus.publish(BarcodeScanned(f"{n}"))
    assert [e.code for e in _drain(worker)] == [f"{n}" for n in range(500)]


def test_get_waits_for_an_event_from_another_thread_and_closed_subscriptions_hear_nothing():
    bus = EventBus()
    sub = bus.subscribe()
    threading.Timer(0.05, bus.publish, (SessionEnded("idle_timeout"),)).start()
    event = sub.get(timeout_s=5)
    assert isinstance(event, SessionEnded) and event.reason == "idle_timeout"
    assert sub.get(timeout_s=0.01) is None
    sub.close()
    bus.publish(SessionEnded("done"))
    assert bus.subscriber_count == 0 and sub.get(timeout_s=0) is None
