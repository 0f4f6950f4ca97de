"""Shuxiang (书香): a self-service circulation kiosk for school libraries."""

__version__ = "0.1.0"
