"""How the per-kiosk secret travels (server.allow_remote): names shared by the server and launcher."""

from __future__ import annotations

# Scripts and the launcher send the secret in this header.
SECRET_HEADER = "X-Kiosk-Secret"
# The kiosk page carries it in this cookie (HttpOnly, SameSite=Strict), which the server sets.
SECRET_COOKIE = "shuxiang_kiosk"
# `/?kiosk_secret=…` turns into the cookie once; the launcher opens this for a network address.
PAIRING_PARAM = "kiosk_secret"
