"""The circulation rules' settings, built from config.toml for the kiosk and the central alike."""

from __future__ import annotations

from kiosk.circulation.barcodes import BarcodeRules
from kiosk.circulation.calendar import OpeningCalendar
from kiosk.circulation.holds import HoldPolicy
from kiosk.circulation.overdue import ChasePolicy
from kiosk.circulation.rules import LoanPolicy
from kiosk.config import Settings


def opening_calendar(settings: Settings) -> OpeningCalendar:
    """The library's opening days and hours (`[circulation]`), for due dates and hold shelves."""
    c = settings.circulation
    return OpeningCalendar.from_names(
        c.timezone, c.open_days, c.opens_at, c.closes_at, c.closed_dates
    )


def hold_policy(settings: Settings) -> HoldPolicy:
    """The hold rules' settings: `max_holds`, `hold_shelf_days`, on the opening calendar."""
    return HoldPolicy(
        max_holds=settings.circulation.max_holds,
        shelf_days=settings.circulation.hold_shelf_days,
        calendar=opening_calendar(settings),
    )


def chase_policy(settings: Settings) -> ChasePolicy:
    """The overdue chase's stage thresholds and day counting (`[chase]`), on the opening calendar."""
    c = settings.chase
    return ChasePolicy(
        kiosk_reminder_days=c.kiosk_reminder_days,
        class_list_days=c.class_list_days,
        parents_days=c.parents_days,
        long_overdue_days=c.long_overdue_days,
        count_closed_days=c.count_closed_days,
        calendar=opening_calendar(settings),
    )


def loan_policy(settings: Settings) -> LoanPolicy:
    """The loan rules' settings (`[circulation]`), on the opening calendar: the kiosk's and the
    central desk's loans follow the same ones."""
    c = settings.circulation
    return LoanPolicy(
        loan_days=c.loan_days,
        max_loans=c.max_loans,
        max_renewals=c.max_renewals,
        renew_within_days=c.renew_within_days,
        block_when_overdue=c.block_when_overdue,
        block_on_open_compensation=settings.compensation.block_at_kiosk,
        calendar=opening_calendar(settings),
        count_closed_days=settings.chase.count_closed_days,
    )


def barcode_rules(settings: Settings) -> BarcodeRules:
    """How scans are told apart (`[barcodes]`, the scanner's prefix and suffix): the kiosk's
    and the central desk's scans are classified alike."""
    return BarcodeRules(
        patron_pattern=settings.barcodes.patron_pattern,
        patron_check=settings.barcodes.patron_check,
        item_pattern=settings.barcodes.item_pattern,
        prefix=settings.scanner.prefix,
        suffix=settings.scanner.suffix,
        max_length=settings.barcodes.max_length,
    )
