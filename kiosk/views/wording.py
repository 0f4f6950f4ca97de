"""Every patron-facing sentence the kiosk says, in one place, as gettext messages.

The msgids are the English wording; the Chinese lives in
kiosk/translations/zh/LC_MESSAGES/messages.po. Write for a ten-year-old: short sentences that
say what happened and what to do next.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kiosk.i18n import LANGUAGES, translations

__all__ = [
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "format_day",
    "hold_message",
    "message_for",
    "message_key",
    "text",
    "ui_strings",
]


def N_(msgid: str) -> str:
    """Mark `msgid` for `pybabel extract`; it is translated later, in the language asked for."""
    return msgid


# Each language's own name, for the toggle button; never translated.
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}

# Sentences for a scan reply. Keys are an action, or "refused:<reason>" / "unknown:<reason>"
# for the specific case. Placeholders: {name} the greeting name (names.greeting_name),
# {title}, {due} the due date and {renew_on} the first day a renewal is possible, both written
# as `format_day` writes them, the same as the screen's lists.
_MESSAGES: dict[str, str] = {
    "signed_in": N_("Hello, {name}! Scan a book to borrow it."),
    "switched": N_("Hello, {name}! (The previous student has been signed out.)"),
    "checked_out": N_("Borrowed: {title}. Due back {due}."),
    "returned": N_("Returned: {title}. Thank you! Please put it in the return box."),
    "returned:hold_shelf": N_(
        "Returned: {title}. Another student is waiting for it — please put it on the hold shelf."
    ),
    "returned:librarian": N_("Returned: {title}. Please give this book to the librarian."),
    "renewed": N_("Renewed: {title}. New due date: {due}."),
    "renew_or_return": N_("You already have {title}. Do you want to renew it or return it?"),
    # A renewal would be refused: the screen offers Return only, and says why.
    "renew_or_return:renewal_too_early": N_(
        "You already have {title}. It can be renewed from {renew_on}; you can return it now."
    ),
    "renew_or_return:renewal_limit": N_(
        "You already have {title}. It can't be renewed again; it is due back {due}."
    ),
    "renew_or_return:renewal_held": N_(
        "You already have {title}. Another student is waiting for it, so it can't be renewed."
    ),
    "renew_or_return:refused": N_("You already have {title}. You can return it now."),
    "ignored": "",
    "unknown": N_("Sorry, that code wasn't recognised. Please scan the barcode again."),
    "unknown:sheet_music": N_(
        "This is sheet music, not a library book. Please give it to the librarian."
    ),
    "unknown:bad_isbn_check_digit": N_("The barcode didn't scan cleanly. Please scan it again."),
    "unknown:bad_luhn": N_("The card didn't scan cleanly. Please scan it again."),
    "refused:card_unknown": N_("We don't know this card. Please see the librarian."),
    "refused:card_blocked": N_("Please see the librarian about your account before borrowing."),
    # {reason}: what the librarian wrote when blocking the card (the console's student page).
    "refused:card_blocked:why": N_("Your card is blocked ({reason}). Please see the librarian."),
    "refused:card_left": N_("This card is no longer active. Please see the librarian."),
    "refused:owes_compensation": N_(
        "You have a lost book that hasn't been paid for yet. Please go to the library desk."
    ),
    "refused:has_overdue": N_("You have an overdue book. Please return it before borrowing more."),
    "refused:too_many_loans": N_(
        "You already have as many books as you can borrow. Return one to borrow another."
    ),
    "refused:not_loanable": N_("This book can't be borrowed. Please give it to the librarian."),
    "refused:on_loan_to_other": N_(
        "This book is still on loan to another student — please give it to the librarian."
    ),
    "refused:held_for_other": N_(
        "This book is reserved for another student — please give it to the librarian."
    ),
    "refused:no_copy_available": N_(
        "No copy of this book can be borrowed right now. Please ask the librarian."
    ),
    "refused:unknown_book": N_(
        "This book isn't in our library's list. Please give it to the librarian."
    ),
    "refused:renewal_limit": N_("This book can't be renewed again. It is due back {due}."),
    "refused:renewal_too_early": N_("This book can be renewed from {renew_on}."),
    "refused:renewal_held": N_("Another student is waiting for this book, so it can't be renewed."),
    "refused:not_on_loan": N_(
        "This book isn't on loan. Please put it back on the shelf or in the return box."
    ),
    "refused:which_copy": N_(
        "Several copies of this book are out. Please scan the library barcode inside the cover."
    ),
    "session_ended": N_("Goodbye! You have been signed out."),
    # The database refused the write (disk full, read-only): nothing was recorded.
    "refused:db_unavailable": N_("The kiosk can't record loans right now — please go to the desk."),
}

# Everything else the kiosk screen says. kiosk.js fills in {name}, {n} and {date}; the
# `_one`/`_other` pairs are chosen by count in kiosk.js (Chinese needs no plural forms).
_SCREEN: dict[str, str] = {
    "page_title": N_("Library kiosk"),
    "idle_borrow": N_("Scan your student card to borrow"),
    "idle_return": N_("Scan a book to return it"),
    # Straight quotes on purpose: the CJK font draws curly ones full width.
    "idle_hint": N_('Scanner not working? Tap "Type a number".'),
    "scanner_off": N_("Scanner not connected — please tell the librarian"),
    "link_off": N_("Connecting to the library computer…"),
    "type_number": N_("Type a number"),
    "keypad_title": N_("Type your card number or the book's number"),
    "keypad_ok": N_("OK"),
    "keypad_delete": N_("Delete"),
    "keypad_clear": N_("Clear"),
    "keypad_close": N_("Close"),
    "keypad_letters": N_("ABC"),
    "keypad_digits": N_("123"),
    "hello": N_("Hello, {name}!"),
    "books_none": N_("You have no library books at the moment."),
    "loans_none": N_("Nothing here yet — the books you borrow will show here."),
    "books_one": N_("You have 1 library book."),
    "books_other": N_("You have {n} library books."),
    "may_borrow_none": N_("You can't borrow more books right now."),
    "may_borrow_one": N_("You may borrow 1 more."),
    "may_borrow_other": N_("You may borrow {n} more."),
    "scan_books": N_("Scan each book you want to borrow."),
    # The same place the returner is sent to ("to_hold_shelf").
    "holds_ready": N_("Waiting for you on the hold shelf:"),
    "hold_kept_until": N_("Kept for you until {date}"),
    "hold_waiting": N_("Reserved: waiting for a copy to come back"),
    "hold_cancel": N_("Cancel reservation"),
    "scanned_now": N_("Just now"),
    "nothing_scanned": N_("Books you scan will appear here."),
    "your_books": N_("Your books"),
    "due": N_("Due {date}"),
    "borrowed_due": N_("Borrowed — due {date}"),
    "renewed_due": N_("Renewed — now due {date}"),
    "returned": N_("Returned"),
    "overdue_one": N_("1 day overdue"),
    "overdue_other": N_("{n} days overdue"),
    # The chase's kiosk reminder ([chase] kiosk_reminder_days), one sentence per late book.
    "overdue_reminder_one": N_("“{title}” is 1 day late. Please bring it back soon."),
    "overdue_reminder_other": N_("“{title}” is {n} days late. Please bring it back soon."),
    "to_return_box": N_("Put it in the return box."),
    "to_hold_shelf": N_("Put it on the hold shelf — another student is waiting for it."),
    "to_librarian": N_("Please give it to the librarian."),
    "renew": N_("Renew"),
    "return": N_("Return"),
    "done": N_("Done"),
    "done_title": N_("Goodbye, {name}!"),
    "done_borrowed": N_("You borrowed:"),
    "done_nothing": N_("You didn't borrow any books this time."),
    "done_back": N_("Back to the start in {n} s"),
    "ok": N_("OK"),
    "returns_title": N_("Thank you!"),
    "returns_next": N_("Scan the next book, or tap Done."),
    "still_here": N_("Still here?"),
    "still_here_left": N_("Signing you out in {n} s"),
    "still_here_yes": N_("Yes, I'm still here"),
    "signed_out": N_("You have been signed out. See you next time!"),
    "more_below": N_("More below — swipe up"),
    # A typed code is not "scanned": ask for the number again instead.
    "unknown_typed": N_("We couldn't find that number. Please check it and type it again."),
    "error_server": N_("Sorry, something went wrong. Please try again."),
    "error_link": N_("The kiosk can't reach the library computer. Please try again in a moment."),
}


# Sentences for holds (POST/DELETE /api/holds). Placeholders: {title}, {days} open days a copy
# waits on the hold shelf, {max} holds allowed, {call_number} and {location} of a copy on the shelf.
_HOLD_MESSAGES: dict[str, str] = {
    "placed": N_(
        "Reserved: {title}. When a copy comes back it waits for you on the hold shelf at the "
        "library desk for {days} open days. You will see it here when you sign in."
    ),
    "cancelled": N_("Your reservation for {title} is cancelled."),
    "sign_in_first": N_("Please scan your student card first."),
    "db_unavailable": N_("The kiosk can't record reservations right now — please go to the desk."),
    "refused:unknown_book": N_("This book isn't in our library's list."),
    "refused:card_unknown": N_("We don't know this card. Please see the librarian."),
    "refused:card_left": N_("This card is no longer active. Please see the librarian."),
    "refused:card_blocked": N_(
        "Please see the librarian about your account before reserving books."
    ),
    "refused:already_on_loan": N_("You already have {title}, so there is no need to reserve it."),
    "refused:already_reserved": N_("You have already reserved {title}."),
    "refused:copy_on_shelf": N_(
        "{title} is on the shelf now, so there is no need to reserve it. "
        "Go and take it: {call_number}, {location}."
    ),
    "refused:not_holdable": N_(
        "{title} can't be reserved: the library has no copy to lend. Please ask the librarian."
    ),
    "refused:too_many_holds": N_(
        "You already have {max} reservations, the most you can have. Cancel one to reserve another."
    ),
    "refused:hold_not_found": N_("That reservation wasn't found."),
}


def hold_message(key: str, language: str, **fields: object) -> str:
    """The sentence for a hold reply by key ("placed", "refused:<reason>", ...), in `language`."""
    return _translate(_HOLD_MESSAGES[key], language).format(**fields)


def _translate(msgid: str, language: str) -> str:
    # gettext("") would return the catalog's header, not an empty sentence.
    if not msgid:
        return ""
    return translations(language if language in LANGUAGES else "en").gettext(msgid)


def message_key(reply: dict[str, Any]) -> str:
    action = str(reply.get("action") or "unknown")
    reason = reply.get("reason")
    destination = reply.get("destination")
    candidates = []
    if action == "returned" and destination and destination != "return_box":
        candidates.append(f"returned:{destination}")
    if action == "refused" and reason == "not_on_loan" and destination == "hold_shelf":
        candidates.append("returned:hold_shelf")
    if reason == "card_blocked" and reply.get("block_reason"):
        candidates.append("refused:card_blocked:why")
    if reason:
        candidates.append(f"{action}:{reason}")
        if action == "renew_or_return":
            candidates.append("renew_or_return:refused")
    candidates.append(action)
    for key in candidates:
        if key in _MESSAGES:
            return key
    return "unknown"


def message_for(reply: dict[str, Any], language: str) -> str:
    """The sentence the screen shows for a scan reply, in `language` ("zh" or "en").

    Works with or without a Flask app context (the event stream has none).
    """
    template = _translate(_MESSAGES[message_key(reply)], language)
    patron = reply.get("patron") or {}
    return template.format(
        name=patron.get("first_name", ""),
        title=reply.get("title") or "",
        due=format_day(reply.get("due_date"), language),
        renew_on=format_day(reply.get("renewable_on"), language),
        reason=reply.get("block_reason") or "",
    )


_WEEKDAYS = {
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def format_day(iso_date: Any, language: str) -> str:
    """A library-local "YYYY-MM-DD" date as every kiosk screen writes it: 12月14日周一, or
    Mon 14 December (kiosk.js formatDate writes the same); anything else unchanged."""
    if not isinstance(iso_date, str):
        return ""
    try:
        day = dt.date.fromisoformat(iso_date[:10])
    except ValueError:
        return iso_date
    if language == "zh":
        return f"{day.month}月{day.day}日{_WEEKDAYS['zh'][day.weekday()]}"
    return f"{_WEEKDAYS['en'][day.weekday()]} {day.day} {_MONTHS_EN[day.month - 1]}"


def text(key: str, language: str) -> str:
    """One fixed sentence by key, e.g. text("session_ended", "zh")."""
    msgid = _MESSAGES[key] if key in _MESSAGES else _SCREEN[key]
    return _translate(msgid, language)


def ui_strings(language: str) -> dict[str, str]:
    """Every sentence the kiosk page shows itself, by key, for kiosk.js to render."""
    return {key: _translate(msgid, language) for key, msgid in _SCREEN.items()}
