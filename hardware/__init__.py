"""Scanner drivers: bytes, serial ports and reconnects; nothing here knows about the kiosk."""
