"""`run_kiosk.py browser`: Debian Chromium in kiosk mode on the kiosk page, locked down by policy.

Two layers keep a curious student inside the kiosk page: command-line flags (full screen, no
error dialogs, no translate bar, no swipe-back) and a managed policy, which Chromium reads from
/etc/chromium/policies/managed/ and which no flag or keyboard shortcut can undo (other URLs,
developer tools, downloads, printing, sign-in).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from kiosk.config import Settings, is_loopback_host, read_secret
from kiosk.remote import PAIRING_PARAM, SECRET_HEADER

CHROMIUM = "/usr/bin/chromium"
POLICY_PATH = Path("/etc/chromium/policies/managed/shuxiang.json")
SERVER_WAIT_S = 120.0

Command = Callable[[Settings, argparse.Namespace], int]


def kiosk_url(settings: Settings) -> str:
    host = settings.server.host
    # A server listening on every address is still reached on loopback from this machine.
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}/"


def launch_url(settings: Settings) -> str:
    """The URL Chromium opens: the kiosk page, carrying the kiosk's secret when the page is
    reached over a network address (on loopback the server hands the page the secret itself)."""
    url = kiosk_url(settings)
    host = url.partition("://")[2].rpartition(":")[0]
    if settings.server.allow_remote and not is_loopback_host(host):
        secret = read_secret(settings.server.secret_file)
        if secret:
            return f"{url}?{urlencode({PAIRING_PARAM: secret})}"
    return url


def origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def managed_policy(url: str) -> dict[str, Any]:
    """Chromium enterprise policy that allows the kiosk's origin and nothing else."""
    return {
        "URLBlocklist": ["*"],
        "URLAllowlist": [origin(url)],
        "DeveloperToolsAvailability": 2,  # 2 = developer tools are not available
        "DownloadRestrictions": 3,  # 3 = block all downloads
        "AllowFileSelectionDialogs": False,
        "IncognitoModeAvailability": 2,  # 2 = always incognito: no history kept on disk
        "BrowserGuestModeEnabled": False,
        "BrowserAddPersonEnabled": False,
        "BrowserSignin": 0,
        "SyncDisabled": True,
        "PasswordManagerEnabled": False,
        "AutofillAddressEnabled": False,
        "AutofillCreditCardEnabled": False,
        "TranslateEnabled": False,
        "PrintingEnabled": False,
        "SearchSuggestEnabled": False,
        "SpellcheckEnabled": False,
        "MetricsReportingEnabled": False,
        "BookmarkBarEnabled": False,
        "EditBookmarksEnabled": False,
        "ExtensionInstallBlocklist": ["*"],
        "TaskManagerEndProcessEnabled": False,
        "DefaultNotificationsSetting": 2,
        "DefaultGeolocationSetting": 2,
        "AutoplayAllowed": True,  # the success and refusal beeps play without a tap first
    }


def chromium_command(
    url: str, profile_dir: Path, chromium: str = CHROMIUM, extra: list[str] | None = None
) -> list[str]:
    """The command line that opens `url` full screen with nothing else reachable."""
    return [
        chromium,
        "--kiosk",
        "--noerrdialogs",
        "--disable-translate",
        "--disable-features=TranslateUI",
        "--no-first-run",
        "--disable-pinch",
        "--overscroll-history-navigation=0",
        "--disable-session-crashed-bubble",
        "--disable-infobars",
        "--check-for-update-interval=31536000",
        "--autoplay-policy=no-user-gesture-required",
        "--incognito",
        f"--user-data-dir={profile_dir}",
        *(extra or []),
        url,
    ]


def write_policy(policy: dict[str, Any], path: Path = POLICY_PATH) -> bool:
    """Write the policy file when it differs; False (with instructions) if we may not."""
    text = json.dumps(policy, indent=2, sort_keys=True) + "\n"
    try:
        if path.exists() and path.read_text(encoding="utf-8") == text:
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(
            f"Cannot write Chromium's managed policy to {path} ({exc.strerror}). "
            "As root, install it once with:\n"
            f"  sudo mkdir -p {path.parent}\n"
            f"  python run_kiosk.py browser --print-policy | sudo tee {path}\n"
            "Starting Chromium without it: other sites and developer tools are NOT blocked.",
            file=sys.stderr,
        )
        return False
    print(f"Chromium policy written to {path}", file=sys.stderr)
    return True


def wait_for_server(url: str, timeout_s: float, secret: str | None = None) -> bool:
    """Wait until the kiosk server answers, so the screen never opens on an error page."""
    deadline = time.monotonic() + timeout_s
    status = urllib.request.Request(
        url + "api/status", headers={SECRET_HEADER: secret} if secret else {}
    )
    while True:
        try:
            with urllib.request.urlopen(status, timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)


def cmd_browser(settings: Settings, args: argparse.Namespace) -> int:
    url = args.url or kiosk_url(settings)
    policy = managed_policy(url)
    secret = read_secret(settings.server.secret_file) if settings.server.allow_remote else None
    if args.print_policy:
        print(json.dumps(policy, indent=2, sort_keys=True))
        return 0
    if not Path(args.chromium).exists():
        print(f"{args.chromium} not found: run scripts/system-deps.sh browser", file=sys.stderr)
        return 1
    write_policy(policy, Path(args.policy_file))
    if not wait_for_server(url, args.wait_s, secret):
        print(
            f"The kiosk server at {url} did not answer within {args.wait_s:.0f} s.", file=sys.stderr
        )
        return 1
    profile = Path(args.profile_dir).expanduser()
    profile.mkdir(parents=True, exist_ok=True)
    command = chromium_command(
        args.url or launch_url(settings), profile, args.chromium, args.chromium_arg
    )
    sys.stdout.flush()
    # Become Chromium, so systemd supervises (and restarts) the browser itself.
    os.execv(command[0], command)
    return 1  # pragma: no cover - execv does not return


def register_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    commands: dict[str, Command],
) -> None:
    parser = sub.add_parser(
        "browser", parents=[common], help="open the kiosk page in Chromium, full screen"
    )
    parser.add_argument("--url", help="page to open (default: this kiosk's server)")
    parser.add_argument("--chromium", default=CHROMIUM, help="browser executable")
    parser.add_argument(
        "--profile-dir",
        default="~/.cache/shuxiang-chromium",
        help="Chromium profile directory (kept apart from any personal profile)",
    )
    parser.add_argument("--policy-file", default=str(POLICY_PATH), help="managed policy file")
    parser.add_argument(
        "--print-policy", action="store_true", help="print the managed policy JSON and exit"
    )
    parser.add_argument(
        "--wait-s", type=float, default=SERVER_WAIT_S, help="how long to wait for the server"
    )
    parser.add_argument(
        "--chromium-arg",
        action="append",
        default=[],
        help="extra Chromium flag, e.g. --chromium-arg=--ozone-platform=wayland (repeatable)",
    )
    commands["browser"] = cmd_browser
