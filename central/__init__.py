"""The central server: sync endpoint for kiosks, the librarians' console and monitoring API."""
