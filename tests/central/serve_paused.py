"""A central server whose clock can freeze a push just before its commit (for the kill -9 test).

Usage: python tests/central/serve_paused.py CONFIG PORT ARM_FILE PAUSED_FILE
While ARM_FILE exists, the second clock reading of a request (taken by the push after its events
are inserted and applied, before the commit) writes PAUSED_FILE and sleeps, so the test can
kill -9 the process in the middle of the batch's transaction.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    import waitress

    from central.app import create_central_app
    from central.db import open_central_engine
    from kiosk.config import load_settings, with_overrides

    config, port, arm, paused = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    settings = with_overrides(load_settings(config), central={"port": port})
    calls = threading.local()

    def clock() -> dt.datetime:
        now = dt.datetime.now(dt.UTC)
        if arm.exists():
            calls.n = getattr(calls, "n", 0) + 1
            if calls.n == 2:
                paused.write_text("paused")
                time.sleep(120)
        return now

    engine = open_central_engine(settings.central.database_url)
    app = create_central_app(settings, engine=engine, clock=clock)
    print("ready", flush=True)
    waitress.serve(app, host="127.0.0.1", port=port, threads=4)


if __name__ == "__main__":
    main()
