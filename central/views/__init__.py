"""Blueprints of the central server: the kiosk sync API, the JSON/metrics API, the console."""
