"""Settings read once from config.toml into frozen dataclasses, every problem named by its dotted key."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import itertools
import re
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from db.files import FileProblem, read_secret_file
from kiosk.circulation.compensation import CompensationMode, CompensationPolicy, OnFound
from kiosk.circulation.schoolyear import MonthDay, SchoolCalendar
from kiosk.streams import MAX_EVENT_STREAMS, THREADS_KEPT_FOR_REQUESTS

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The kiosk's API secret (server.secret_file) must resist guessing over the network.
MIN_SECRET_CHARS = 16


class ConfigError(Exception):
    """Raised with every problem found in a config file, each as 'dotted.key: what is wrong'."""

    def __init__(self, path: Path | str, problems: list[str], *, whole_file: bool = False) -> None:
        self.path = str(path)
        self.problems = problems
        # The file itself could not be read: one problem, said as one sentence.
        self.whole_file = whole_file
        super().__init__(f"{path}: " + "; ".join(problems))

    def report(self) -> str:
        """Human-readable text for the command line."""
        if self.whole_file:
            return f"Configuration file {self.path}: {self.problems[0]}."
        lines = [f"Configuration file {self.path} has {len(self.problems)} problem(s):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class KioskSettings:
    id: str = "kiosk-1"
    name: str = "School Library"
    language: str = "zh"
    idle_timeout_s: int = 45
    staff_pin_file: Path | None = None
    # How the screen greets a student (kiosk/circulation/names.py): 李同学, 李华同学 or 华.
    greeting: str = "surname"
    # New books, this month's popular books and class ranking on the idle screen (from the central).
    idle_boards: bool = True


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Each open event stream (at most two: kiosk.streams) holds a waitress thread.
    threads: int = 8
    # Serving other machines is a choice: then the API and event stream need the secret below.
    allow_remote: bool = False
    secret_file: Path | None = None


@dataclass(frozen=True)
class DatabaseSettings:
    path: Path = Path("var/kiosk.sqlite3")


@dataclass(frozen=True)
class ScannerSettings:
    type: str = "keyboard"
    port: str = ""
    baudrate: int = 9600
    terminator: str = "CR"
    prefix: str = ""
    suffix: str = ""
    reconnect_delay_s: float = 1.0


@dataclass(frozen=True)
class BarcodeSettings:
    patron_pattern: str = r"\d{8,12}"
    patron_check: str = "none"
    item_pattern: str = r"[A-Z]{1,4}\d{4,10}"
    max_length: int = 64


@dataclass(frozen=True)
class CirculationSettings:
    timezone: str = "Asia/Shanghai"
    loan_days: int = 14
    max_loans: int = 3
    max_renewals: int = 1
    renew_within_days: int = 3
    block_when_overdue: bool = True
    open_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    opens_at: dt.time = dt.time(8, 0)
    closes_at: dt.time = dt.time(17, 0)
    closed_dates: tuple[dt.date, ...] = ()
    # Holds: how many a student may have at once, and how many open days a copy set aside
    # for a hold waits on the hold shelf before it passes on to the next in line.
    max_holds: int = 2
    hold_shelf_days: int = 5


@dataclass(frozen=True)
class SyncSettings:
    central_url: str = ""
    token_file: Path | None = None
    nightly_at: dt.time = dt.time(2, 0)
    interval_s: int = 300
    heartbeat_s: int = 60
    batch_size: int = 200
    timeout_s: float = 10.0


@dataclass(frozen=True)
class CentralSettings:
    host: str = "127.0.0.1"
    port: int = 8090
    database_url: str = "var/central.sqlite3"
    threads: int = 8
    monitor_token_file: Path | None = None
    secret_key_file: Path | None = None
    kiosk_silent_after_s: int = 600
    # Mark the console's cookie Secure: set it when the console is reached over HTTPS only.
    secure_cookies: bool = False
    # Reverse proxies in front of the central whose X-Forwarded-* headers are trusted
    # (0: none, so a client can't choose the address its sign-in failures are counted under).
    proxy_hops: int = 0


@dataclass(frozen=True)
class OpacSettings:
    """The central's public catalogue page (/opac)."""

    # Whether students may place holds there; they identify by card number plus a PIN, or by
    # student number plus birth date.
    holds: bool = False
    identify_by: str = "pin"


# What decides the class ranking (书香班级); central/reports/classes.py computes each of them.
RANKING_MEASURES = ("loans_per_student", "loans", "borrowers", "share_borrowed")


@dataclass(frozen=True)
class SchoolSettings:
    """The school: its name on printed papers (receipts, labels, notices), and the school year
    with its two terms, for reports ("this term", "the same period last year")."""

    # The full name heads receipts and notices; the short one fits a label. Empty: kiosk.name.
    name: str = ""
    short_name: str = ""
    year_start: MonthDay = SchoolCalendar().year_start
    term1: tuple[MonthDay, MonthDay] = SchoolCalendar().terms[0]
    term2: tuple[MonthDay, MonthDay] = SchoolCalendar().terms[1]
    ranking_measure: str = "loans_per_student"

    def calendar(self) -> SchoolCalendar:
        return SchoolCalendar(year_start=self.year_start, terms=(self.term1, self.term2))


def school_name(settings: Settings, *, short: bool = False) -> str:
    """The school's name for printed papers: `school.short_name` when `short` and set, else
    `school.name`, else the kiosk's name."""
    if short and settings.school.short_name:
        return settings.school.short_name
    return settings.school.name or settings.kiosk.name


@dataclass(frozen=True)
class ChaseSettings:
    """The overdue chase (催还): stage thresholds in days overdue (kiosk/circulation/overdue.py)."""

    # False: only the library's open days count as days overdue (weekends, holidays in
    # circulation.closed_dates do not).
    count_closed_days: bool = False
    kiosk_reminder_days: int = 1
    class_list_days: int = 7
    parents_days: int = 14
    long_overdue_days: int = 42
    # Library time of the central's daily chase, run once the ledger has applied the night's
    # pushes; None: no scheduled run (the `chase` command or the console's button only).
    send_at: dt.time | None = None
    # How to bring a book back, in the parents' notice.
    return_hint: str = "请让孩子把书还到学校图书馆（自助借还机或图书管理员处）。"


@dataclass(frozen=True)
class MailSettings:
    """The SMTP server the parents' notices go through; no host: no e-mail is sent."""

    host: str = ""
    port: int = 587
    starttls: bool = True
    user: str = ""
    password_file: Path | None = None
    from_address: str = ""
    timeout_s: float = 30.0
    # A CA certificate (PEM) to trust for the server instead of the system's: a school's own CA.
    ca_file: Path | None = None


@dataclass(frozen=True)
class CompensationSettings:
    """Compensation for lost and damaged books (遗失赔偿; kiosk/circulation/compensation.py)."""

    mode: str = CompensationMode.PRICE_FACTOR.value
    factor: Decimal = Decimal(1)
    damaged_factor: Decimal = Decimal("0.5")
    minimum_yuan: Decimal = Decimal(10)
    fixed_yuan: Decimal = Decimal(30)
    # A book found after it was paid for: give the money back ("refund") or not ("keep").
    on_found: str = OnFound.REFUND.value
    # Refuse loans at the kiosk to a student with an open case (they are told to see the desk).
    block_at_kiosk: bool = False

    def policy(self) -> CompensationPolicy:
        return CompensationPolicy(
            mode=CompensationMode(self.mode),
            factor=self.factor,
            damaged_factor=self.damaged_factor,
            minimum_fen=int(self.minimum_yuan * 100),
            fixed_fen=int(self.fixed_yuan * 100),
            on_found=OnFound(self.on_found),
        )


@dataclass(frozen=True)
class Settings:
    """Everything in config.toml; `path` is the file it came from."""

    path: Path = Path("config.toml")
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    scanner: ScannerSettings = field(default_factory=ScannerSettings)
    barcodes: BarcodeSettings = field(default_factory=BarcodeSettings)
    circulation: CirculationSettings = field(default_factory=CirculationSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    central: CentralSettings = field(default_factory=CentralSettings)
    opac: OpacSettings = field(default_factory=OpacSettings)
    school: SchoolSettings = field(default_factory=SchoolSettings)
    chase: ChaseSettings = field(default_factory=ChaseSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    compensation: CompensationSettings = field(default_factory=CompensationSettings)


# --- parsing -----------------------------------------------------------------------------------

T = TypeVar("T")
Parser = Callable[[Any, Path], Any]


class _Invalid(Exception):
    """A single value failed to parse; the message says why."""


def _int(lo: int | None = None, hi: int | None = None) -> Parser:
    def parse(value: Any, base: Path) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a whole number, not {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise _Invalid(f"must be between {lo} and {hi}, not {value}")
        return value

    return parse


def _float(lo: float, hi: float) -> Parser:
    def parse(value: Any, base: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(f"must be a number, not {value!r}")
        if not lo <= value <= hi:
            raise _Invalid(f"must be between {lo} and {hi}, not {value}")
        return float(value)

    return parse


def _decimal(lo: Decimal, hi: Decimal, *, places: int) -> Parser:
    """A number read exactly (money and factors: 0.1 stays 0.1), with at most `places` decimals."""

    def parse(value: Any, base: Path) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(f"must be a number, not {value!r}")
        number = Decimal(str(value))
        if not lo <= number <= hi:
            raise _Invalid(f"must be between {lo} and {hi}, not {value}")
        if number != number.quantize(Decimal(1).scaleb(-places)):
            raise _Invalid(f"must have at most {places} decimals, not {value}")
        return number

    return parse


def _bool(value: Any, base: Path) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"must be true or false, not {value!r}")
    return value


def _str(nonempty: bool = False, choices: tuple[str, ...] = ()) -> Parser:
    def parse(value: Any, base: Path) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"must be text, not {value!r}")
        if nonempty and not value.strip():
            raise _Invalid("must not be empty")
        if choices and value not in choices:
            raise _Invalid(f"must be one of {', '.join(map(repr, choices))}, not {value!r}")
        return value

    return parse


def _regex(value: Any, base: Path) -> str:
    text = _str(nonempty=True)(value, base)
    try:
        re.compile(text)
    except re.error as exc:
        raise _Invalid(f"is not a valid regular expression ({exc})") from None
    return str(text)


def _path(value: Any, base: Path) -> Path:
    text = _str(nonempty=True)(value, base)
    path = Path(text).expanduser()
    # Relative paths are relative to the config file, not to wherever the program was started.
    return path if path.is_absolute() else (base / path)


def _optional_path(value: Any, base: Path) -> Path | None:
    if value == "":
        return None
    return _path(value, base)


def _clock(value: Any, base: Path) -> dt.time:
    if isinstance(value, dt.time):
        return value
    text = _str()(value, base)
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise _Invalid(f'must be a time of day like "08:00", not {text!r}') from None


def _optional_clock(value: Any, base: Path) -> dt.time | None:
    if value == "":
        return None
    return _clock(value, base)


def _email(value: Any, base: Path) -> str:
    text = _str()(value, base).strip()
    if text and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", text):
        raise _Invalid(f'must be an e-mail address like "library@school.edu.cn", not {text!r}')
    return str(text)


def _timezone(value: Any, base: Path) -> str:
    text = _str(nonempty=True)(value, base)
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _Invalid(f'is not a known time zone (like "Asia/Shanghai"): {text!r}') from None
    return str(text)


def _weekdays(value: Any, base: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _Invalid(f'must be a list of weekdays like ["mon", "tue"], not {value!r}')
    days = []
    for day in value:
        if not isinstance(day, str) or day.lower()[:3] not in WEEKDAYS:
            raise _Invalid(f"{day!r} is not a weekday (use {', '.join(WEEKDAYS)})")
        days.append(day.lower()[:3])
    return tuple(dict.fromkeys(days))


def _dates(value: Any, base: Path) -> tuple[dt.date, ...]:
    """Dates, or "YYYY-MM-DD..YYYY-MM-DD" ranges for holidays."""
    if not isinstance(value, list):
        raise _Invalid(f"must be a list of dates, not {value!r}")
    out: list[dt.date] = []
    for entry in value:
        if isinstance(entry, dt.date) and not isinstance(entry, dt.datetime):
            out.append(entry)
            continue
        if not isinstance(entry, str):
            raise _Invalid(f'{entry!r} is not a date like "2026-10-01"')
        first, _, last = entry.partition("..")
        try:
            start = dt.date.fromisoformat(first.strip())
            end = dt.date.fromisoformat(last.strip()) if last else start
        except ValueError:
            raise _Invalid(
                f'{entry!r} is not a date like "2026-10-01" or a range "2026-10-01..2026-10-07"'
            ) from None
        if end < start:
            raise _Invalid(f"{entry!r} ends before it starts")
        out.extend(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    return tuple(sorted(set(out)))


def _month_day(value: Any, base: Path) -> MonthDay:
    text = _str(nonempty=True)(value, base)
    month_day = MonthDay.parse(text)
    if month_day is None:
        raise _Invalid(f'must be a day of the year like "09-01" (month-day), not {text!r}')
    return month_day


def _month_days(value: Any, base: Path) -> tuple[MonthDay, MonthDay]:
    text = _str(nonempty=True)(value, base)
    first, sep, last = text.partition("..")
    days = (MonthDay.parse(first), MonthDay.parse(last))
    if not sep or days[0] is None or days[1] is None:
        raise _Invalid(f'must be a first and last day like "09-01..01-20", not {text!r}')
    return days[0], days[1]


def _url(value: Any, base: Path) -> str:
    text = _str()(value, base)
    if text and not re.match(r"^https?://[^\s/]+", text):
        raise _Invalid(f"must be an http:// or https:// address, not {text!r}")
    return str(text).rstrip("/")


def _database_url(value: Any, base: Path) -> str:
    text = _str(nonempty=True)(value, base)
    if "://" in text:
        if not text.startswith(("sqlite", "postgresql")):
            raise _Invalid("must be a SQLite path or a postgresql+psycopg:// URL")
        return str(text)
    return str(_path(text, base))


_SCHEMA: dict[str, dict[str, Parser]] = {
    "kiosk": {
        "id": _str(nonempty=True),
        "name": _str(nonempty=True),
        "language": _str(choices=("zh", "en")),
        "idle_timeout_s": _int(10, 3600),
        "staff_pin_file": _optional_path,
        "greeting": _str(choices=("surname", "full", "given")),
        "idle_boards": _bool,
    },
    "server": {
        "host": _str(nonempty=True),
        "port": _int(1, 65535),
        # Event streams may hold some threads (kiosk.streams); scans and pages keep the rest.
        "threads": _int(MAX_EVENT_STREAMS + THREADS_KEPT_FOR_REQUESTS, 256),
        "allow_remote": _bool,
        "secret_file": _optional_path,
    },
    "database": {"path": _path},
    "scanner": {
        "type": _str(choices=("serial", "keyboard", "none")),
        "port": _str(),
        "baudrate": _int(300, 4_000_000),
        "terminator": _str(choices=("CR", "LF", "CRLF")),
        "prefix": _str(),
        "suffix": _str(),
        "reconnect_delay_s": _float(0.05, 60.0),
    },
    "barcodes": {
        "patron_pattern": _regex,
        "patron_check": _str(choices=("none", "luhn")),
        "item_pattern": _regex,
        "max_length": _int(8, 1024),
    },
    "circulation": {
        "timezone": _timezone,
        "loan_days": _int(1, 365),
        "max_loans": _int(0, 100),
        "max_renewals": _int(0, 20),
        "renew_within_days": _int(0, 365),
        "block_when_overdue": _bool,
        "open_days": _weekdays,
        "opens_at": _clock,
        "closes_at": _clock,
        "closed_dates": _dates,
        "max_holds": _int(0, 50),
        "hold_shelf_days": _int(1, 60),
    },
    "sync": {
        "central_url": _url,
        "token_file": _optional_path,
        "nightly_at": _clock,
        "interval_s": _int(10, 86_400),
        "heartbeat_s": _int(5, 86_400),
        "batch_size": _int(1, 10_000),
        "timeout_s": _float(0.5, 600.0),
    },
    "central": {
        "host": _str(nonempty=True),
        "port": _int(1, 65535),
        "database_url": _database_url,
        "threads": _int(2, 256),
        "monitor_token_file": _optional_path,
        "secret_key_file": _optional_path,
        "kiosk_silent_after_s": _int(30, 7 * 86_400),
        "secure_cookies": _bool,
        "proxy_hops": _int(0, 5),
    },
    "opac": {"holds": _bool, "identify_by": _str(choices=("pin", "birth_date"))},
    "school": {
        "name": _str(),
        "short_name": _str(),
        "year_start": _month_day,
        "term1": _month_days,
        "term2": _month_days,
        "ranking_measure": _str(choices=RANKING_MEASURES),
    },
    "chase": {
        "count_closed_days": _bool,
        "kiosk_reminder_days": _int(1, 3650),
        "class_list_days": _int(1, 3650),
        "parents_days": _int(1, 3650),
        "long_overdue_days": _int(1, 3650),
        "send_at": _optional_clock,
        "return_hint": _str(nonempty=True),
    },
    "mail": {
        "host": _str(),
        "port": _int(1, 65535),
        "starttls": _bool,
        "user": _str(),
        "password_file": _optional_path,
        "from_address": _email,
        "timeout_s": _float(1.0, 600.0),
        "ca_file": _optional_path,
    },
    "compensation": {
        "mode": _str(choices=tuple(CompensationMode)),
        "factor": _decimal(Decimal(0), Decimal(100), places=2),
        "damaged_factor": _decimal(Decimal(0), Decimal(100), places=2),
        "minimum_yuan": _decimal(Decimal(0), Decimal(100_000), places=2),
        "fixed_yuan": _decimal(Decimal(0), Decimal(100_000), places=2),
        "on_found": _str(choices=tuple(OnFound)),
        "block_at_kiosk": _bool,
    },
}

_SECTION_CLASSES: dict[str, type[Any]] = {
    "kiosk": KioskSettings,
    "server": ServerSettings,
    "database": DatabaseSettings,
    "scanner": ScannerSettings,
    "barcodes": BarcodeSettings,
    "circulation": CirculationSettings,
    "sync": SyncSettings,
    "central": CentralSettings,
    "opac": OpacSettings,
    "school": SchoolSettings,
    "chase": ChaseSettings,
    "mail": MailSettings,
    "compensation": CompensationSettings,
}


def parse_settings(data: dict[str, Any], base: Path, source: Path) -> Settings:
    """Validate a parsed TOML document; raise ConfigError naming every bad dotted key."""
    problems: list[str] = []
    sections: dict[str, Any] = {}
    for name in data:
        if name not in _SCHEMA:
            problems.append(f"{name}: unknown section (known: {', '.join(_SCHEMA)})")
    for section, fields in _SCHEMA.items():
        raw = data.get(section, {})
        if not isinstance(raw, dict):
            problems.append(f"{section}: must be a [{section}] table")
            raw = {}
        values: dict[str, Any] = {}
        for key in raw:
            if key not in fields:
                problems.append(f"{section}.{key}: unknown key (known: {', '.join(fields)})")
        for key, parse in fields.items():
            if key in raw:
                try:
                    values[key] = parse(raw[key], base)
                except _Invalid as exc:
                    problems.append(f"{section}.{key}: {exc}")
            elif key == "path" and section == "database":
                values[key] = base / DatabaseSettings.path
            elif key == "database_url" and section == "central":
                values[key] = str(base / CentralSettings.database_url)
        try:
            sections[section] = _SECTION_CLASSES[section](**values)
        except TypeError as exc:  # pragma: no cover - the schema and the classes disagree
            problems.append(f"{section}: {exc}")
    problems += _cross_checks(sections)
    if problems:
        raise ConfigError(source, problems)
    return Settings(path=source, **sections)


def _cross_checks(sections: dict[str, Any]) -> list[str]:
    problems = []
    scanner: ScannerSettings = sections["scanner"]
    if scanner.type == "serial" and not scanner.port:
        problems.append('scanner.port: must name the serial port when scanner.type is "serial"')
    circ: CirculationSettings = sections["circulation"]
    if circ.closes_at <= circ.opens_at:
        problems.append("circulation.closes_at: must be later than circulation.opens_at")
    problems += _server_checks(sections["server"])
    problems += [f"school.{p}" for p in sections["school"].calendar().problems()]
    problems += _chase_checks(sections["chase"], sections["mail"])
    return problems


def _chase_checks(chase: ChaseSettings, mail: MailSettings) -> list[str]:
    keys = ("kiosk_reminder_days", "class_list_days", "parents_days", "long_overdue_days")
    problems = [
        f"chase.{later}: must be at least chase.{earlier} ({getattr(chase, earlier)}), "
        f"not {getattr(chase, later)}"
        for earlier, later in itertools.pairwise(keys)
        if getattr(chase, later) < getattr(chase, earlier)
    ]
    if mail.host and not mail.from_address:
        problems.append("mail.from_address: required when mail.host is set")
    if mail.user and mail.password_file is None:
        problems.append("mail.password_file: required when mail.user is set")
    return problems


def is_loopback_host(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this machine only."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _server_checks(server: ServerSettings) -> list[str]:
    if server.allow_remote:
        if server.secret_file is None:
            return ["server.secret_file: required when server.allow_remote is true"]
        try:
            secret = read_secret(server.secret_file)
        except FileProblem as exc:
            return [f"server.secret_file: {exc}"]
        if secret is None or len(secret) < MIN_SECRET_CHARS:
            return [
                f"server.secret_file: {server.secret_file} is missing, empty or shorter than "
                f"{MIN_SECRET_CHARS} characters; put a long random secret in it (e.g. the "
                "output of `openssl rand -hex 32`), readable by the kiosk's user only"
            ]
        return []
    if not is_loopback_host(server.host):
        return [
            f"server.host: {server.host!r} lets other machines reach the kiosk's API; use "
            '"127.0.0.1", or set server.allow_remote = true and server.secret_file'
        ]
    return []


def load_settings(path: Path | str) -> Settings:
    """Read `path` once with tomllib; raise ConfigError (listing every problem) if it is wrong."""
    source = Path(path)
    try:
        with source.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        problem = "file not found"
    except IsADirectoryError:
        problem = "this is a folder, not a file (name the config.toml inside it)"
    except PermissionError:
        problem = "this user may not read it (permission denied)"
    except UnicodeDecodeError as exc:
        problem = (
            f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "save it as UTF-8"
        )
    except tomllib.TOMLDecodeError as exc:
        problem = f"not valid TOML: {exc}"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror})"
    else:
        return parse_settings(data, source.resolve().parent, source)
    raise ConfigError(source, [problem], whole_file=True)


def with_overrides(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """A copy of `settings` with some fields replaced, e.g. with_overrides(s, kiosk={"id": "k2"})."""
    changes = {
        name: dataclasses.replace(getattr(settings, name), **values)
        for name, values in sections.items()
    }
    return dataclasses.replace(settings, **changes)


def read_secret(path: Path | None) -> str | None:
    """The stripped content of a secret file, or None when no file is configured or it is missing.

    A file that exists but cannot be read raises db.files.FileProblem, one sentence.
    """
    return read_secret_file(path)


def secret_files(settings: Settings) -> list[tuple[str, Path]]:
    """Every secret file the config names, with the dotted key that names it."""
    named = [
        ("kiosk.staff_pin_file", settings.kiosk.staff_pin_file),
        ("sync.token_file", settings.sync.token_file),
        ("central.monitor_token_file", settings.central.monitor_token_file),
        ("central.secret_key_file", settings.central.secret_key_file),
        ("mail.password_file", settings.mail.password_file),
    ]
    return [(key, path) for key, path in named if path is not None]
