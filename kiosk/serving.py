"""Serve a WSGI app with waitress until Ctrl-C or SIGTERM, then run the stop functions."""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from typing import Any

import waitress

# Long enough for a slow tablet on the school's Wi-Fi; event streams send keepalives sooner.
CHANNEL_TIMEOUT_S = 120


def make_server(app: Any, *, host: str, port: int, threads: int) -> Any:
    """A waitress server for `app`, not yet running (`.run()` serves, `.close()` stops)."""
    # create_server is public API (documented under "Using create_server") but not in the stubs.
    return waitress.create_server(  # type: ignore[attr-defined]
        app,
        host=host,
        port=port,
        threads=threads,
        channel_timeout=CHANNEL_TIMEOUT_S,
        # Keep reading a connection while its request runs, so a long response (an event
        # stream) learns at once that its client has gone (environ["waitress.client_disconnected"])
        # and gives its thread back, instead of finding out at its next write.
        channel_request_lookahead=1,
    )


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
    server = make_server(app, host=host, port=port, threads=threads)

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
