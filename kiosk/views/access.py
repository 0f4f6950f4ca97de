"""Who may use the kiosk's API and event stream: Host and Origin checks, and the per-kiosk secret.

On the default loopback bind only this machine reaches the port, so the checks are the ones a
browser needs: a `Host` that is this machine (a web page elsewhere can't rebind its own name to
127.0.0.1 and read a student's session) and, on every state-changing request, an `Origin` that
is the kiosk itself (no other site's page can POST a scan). With `[server] allow_remote = true`
the API and the event stream also need the secret of `[server] secret_file`: in the
`X-Kiosk-Secret` header (scripts, the launcher), or in a cookie the kiosk page receives when it
is opened on this machine, or once through `/?kiosk_secret=…` (what `run_kiosk.py browser`
opens when the kiosk listens on another address).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from urllib.parse import urlencode

from flask import Flask, Request, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from kiosk.config import Settings, is_loopback_host, read_secret
from kiosk.jsonapi import json_error
from kiosk.remote import PAIRING_PARAM, SECRET_COOKIE, SECRET_HEADER

log = logging.getLogger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths behind the secret: the JSON API, the event stream, the page's own JSON helpers.
PROTECTED_PREFIXES = ("/api/", "/events", "/kiosk/")


def _is_loopback_address(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _host_name(req: Request) -> str:
    host = req.host.lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _same_origin(req: Request) -> bool:
    """A browser's cross-site request says so; tools send neither header.

    Browsers that send `Sec-Fetch-Site` are believed (no page can set it). Only without it is
    `Origin` compared: under the kiosk's `Referrer-Policy: no-referrer` Chromium sends
    `Origin: null` with the staff page's own form.
    """
    site = req.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = req.headers.get("Origin")
    return origin is None or origin.lower() == f"{req.scheme}://{req.host}".lower()


class KioskAccess:
    """The checks above, as one `before_request` hook and one `after_request` hook."""

    def __init__(self, settings: Settings) -> None:
        self.allow_remote = settings.server.allow_remote
        # Validated at config load (kiosk.config._server_checks): present when allow_remote.
        self.secret = read_secret(settings.server.secret_file) if self.allow_remote else None

    def _has_secret(self, req: Request) -> bool:
        if self.secret is None:
            return True
        given = req.headers.get(SECRET_HEADER) or req.cookies.get(SECRET_COOKIE) or ""
        return hmac.compare_digest(given.encode("utf-8"), self.secret.encode("utf-8"))

    def check(self) -> BaseResponse | None:
        api = request.path.startswith(PROTECTED_PREFIXES)
        if not self.allow_remote and not is_loopback_host(_host_name(request)):
            log.warning("request refused: Host is not this machine")
            return _refuse(api, 403, "bad_host", "this kiosk answers to 127.0.0.1 only")
        if request.method in STATE_CHANGING and not _same_origin(request):
            log.warning("request refused: %s %s from another origin", request.method, request.path)
            return _refuse(api, 403, "cross_origin", "requests from other sites are refused")
        if self.secret is None:
            return None
        if request.path == "/" and PAIRING_PARAM in request.args:
            return self._pair()
        if api and not self._has_secret(request):
            return json_error(
                401, "kiosk_secret_required", f"send the kiosk's secret in {SECRET_HEADER}"
            )
        if (
            request.path == "/"
            and not self._has_secret(request)
            and not _is_loopback_address(request.remote_addr)
        ):
            return _refuse(
                False, 403, "kiosk_secret_required", "open the kiosk page with run_kiosk.py browser"
            )
        return None

    def _pair(self) -> BaseResponse:
        """`/?kiosk_secret=…`: a right secret becomes the cookie, and the URL loses it."""
        given = request.args.get(PAIRING_PARAM, "")
        assert self.secret is not None
        if not hmac.compare_digest(given.encode("utf-8"), self.secret.encode("utf-8")):
            log.warning("kiosk page pairing refused: wrong secret")
            return _refuse(False, 403, "kiosk_secret_required", "wrong kiosk secret")
        rest = {k: v for k, v in request.args.items() if k != PAIRING_PARAM}
        response = redirect("/" + ("?" + urlencode(rest) if rest else ""), code=303)
        self._set_cookie(response)
        return response

    def hand_out_secret(self, response: Response) -> Response:
        """The kiosk page opened on this machine gets the secret as a cookie its requests send."""
        if (
            self.secret is not None
            and request.path == "/"
            and response.status_code == 200
            and _is_loopback_address(request.remote_addr)
        ):
            self._set_cookie(response)
        return response

    def _set_cookie(self, response: BaseResponse) -> None:
        assert self.secret is not None
        # HttpOnly: no script on the page can read it; Strict: no other site's page sends it.
        response.set_cookie(SECRET_COOKIE, self.secret, httponly=True, samesite="Strict")


def _refuse(api: bool, status: int, error: str, message: str) -> Response:
    if api:
        return json_error(status, error, message)
    return Response(message + "\n", status=status, mimetype="text/plain")


def init_access(app: Flask, settings: Settings) -> None:
    access = KioskAccess(settings)
    app.before_request(access.check)
    app.after_request(access.hand_out_secret)
