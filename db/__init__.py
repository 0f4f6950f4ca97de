"""Database models, engine set-up and migrations shared by the kiosk and the central server."""
