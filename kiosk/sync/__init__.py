"""Client side of the kiosk ⇄ central sync (docs/sync-protocol.md): push, pull, heartbeat."""
