"""Serve a WSGI app with waitress until Ctrl-C or SIGTERM, then run the stop functions."""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from typing import Any

import waitress

# Long enough for a slow tablet on the school's Wi-Fi; event streams send keepalives sooner.
CHANNEL_TIMEOUT_S = 120


def serve_until_stopped(
    app: Any,
    *,
    host: str,
    port: int,
    threads: int,
    stoppers: Sequence[Callable[[], None]] = (),
) -> None:
    """Serve `app`; on Ctrl-C or SIGTERM stop serving, then call each of `stoppers` in order.

    SIGTERM (systemd's stop) unwinds like Ctrl-C, so background threads always get to finish
    their current transaction and the database is closed cleanly.
    """
    # create_server is public API (documented under "Using create_server") but not in the stubs.
    server = waitress.create_server(  # type: ignore[attr-defined]
        app, host=host, port=port, threads=threads, channel_timeout=CHANNEL_TIMEOUT_S
    )

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        for stop in stoppers:
            stop()
        server.close()
