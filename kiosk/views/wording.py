"""Every patron-facing sentence the kiosk says, in Chinese and English, in one place."""

from __future__ import annotations

from typing import Any

LANGUAGES = ("zh", "en")

# Keys are an action, or "refused:<reason>" / "unknown:<reason>" for the specific case.
_MESSAGES: dict[str, dict[str, str]] = {
    "signed_in": {
        "en": "Hello, {name}! Scan a book to borrow it.",
        "zh": "{name}，你好！请扫描要借的图书。",
    },
    "switched": {
        "en": "Hello, {name}! (The previous student has been signed out.)",
        "zh": "{name}，你好！（上一位同学已退出。）",
    },
    "checked_out": {
        "en": "Borrowed: {title}. Please return it by {due}.",
        "zh": "已借出：《{title}》，请在 {due} 前归还。",
    },
    "returned": {
        "en": "Returned: {title}. Thank you! Please put it in the return box.",
        "zh": "已归还：《{title}》，谢谢！请把书放进还书箱。",
    },
    "returned:hold_shelf": {
        "en": "Returned: {title}. Another student is waiting for it — please put it on the hold shelf.",
        "zh": "已归还：《{title}》。有同学在等这本书，请放到预约书架上。",
    },
    "returned:librarian": {
        "en": "Returned: {title}. Please give this book to the librarian.",
        "zh": "已归还：《{title}》。请把这本书交给图书管理员。",
    },
    "renewed": {
        "en": "Renewed: {title}. New due date: {due}.",
        "zh": "已续借：《{title}》，新的还书日期：{due}。",
    },
    "renew_or_return": {
        "en": "You already have {title}. Do you want to renew it or return it?",
        "zh": "《{title}》已经借给你了。要续借还是归还？",
    },
    "ignored": {"en": "", "zh": ""},
    "unknown": {
        "en": "Sorry, that code wasn't recognised. Please scan the barcode again.",
        "zh": "抱歉，无法识别这个条码，请再扫描一次。",
    },
    "unknown:sheet_music": {
        "en": "This is sheet music, not a library book. Please give it to the librarian.",
        "zh": "这是乐谱，不是图书馆的书。请交给图书管理员。",
    },
    "unknown:bad_isbn_check_digit": {
        "en": "The barcode didn't scan cleanly. Please scan it again.",
        "zh": "条码没有扫清楚，请再扫描一次。",
    },
    "unknown:bad_luhn": {
        "en": "The card didn't scan cleanly. Please scan it again.",
        "zh": "学生卡没有扫清楚，请再扫描一次。",
    },
    "refused:card_unknown": {
        "en": "We don't know this card. Please see the librarian.",
        "zh": "系统里没有这张卡，请找图书管理员。",
    },
    "refused:card_blocked": {
        "en": "Please see the librarian about your account before borrowing.",
        "zh": "借书前请先找图书管理员处理你的账户。",
    },
    "refused:card_left": {
        "en": "This card is no longer active. Please see the librarian.",
        "zh": "这张卡已停用，请找图书管理员。",
    },
    "refused:has_overdue": {
        "en": "You have an overdue book. Please return it before borrowing more.",
        "zh": "你有一本书已经超期了，请先还书再借新书。",
    },
    "refused:too_many_loans": {
        "en": "You already have as many books as you can borrow. Return one to borrow another.",
        "zh": "你借的书已经到上限了，还一本才能再借。",
    },
    "refused:not_loanable": {
        "en": "This book can't be borrowed. Please give it to the librarian.",
        "zh": "这本书不能外借，请交给图书管理员。",
    },
    "refused:on_loan_to_other": {
        "en": "This book is still on loan to another student — please give it to the librarian.",
        "zh": "这本书还在别的同学名下，请交给图书管理员。",
    },
    "refused:held_for_other": {
        "en": "This book is reserved for another student — please give it to the librarian.",
        "zh": "这本书已被其他同学预约，请交给图书管理员。",
    },
    "refused:no_copy_available": {
        "en": "No copy of this book can be borrowed right now. Please ask the librarian.",
        "zh": "这本书现在没有可借的副本，请问图书管理员。",
    },
    "refused:unknown_book": {
        "en": "This book isn't in our library's list. Please give it to the librarian.",
        "zh": "图书馆里查不到这本书，请交给图书管理员。",
    },
    "refused:renewal_limit": {
        "en": "This book can't be renewed again. Please return it by {due}.",
        "zh": "这本书不能再续借了，请在 {due} 前归还。",
    },
    "refused:renewal_held": {
        "en": "Another student is waiting for this book, so it can't be renewed.",
        "zh": "有同学在等这本书，所以不能续借。",
    },
    "refused:not_on_loan": {
        "en": "This book was already returned. Please put it in the return box.",
        "zh": "这本书已经还过了，请放进还书箱。",
    },
    "refused:which_copy": {
        "en": "Several copies of this book are out. Please scan the library barcode inside the cover.",
        "zh": "这本书借出了好几本，请扫描书里的图书馆条码。",
    },
    "session_ended": {
        "en": "Goodbye! You have been signed out.",
        "zh": "再见！你已退出。",
    },
}


def message_key(reply: dict[str, Any]) -> str:
    action = str(reply.get("action") or "unknown")
    reason = reply.get("reason")
    destination = reply.get("destination")
    candidates = []
    if action == "returned" and destination and destination != "return_box":
        candidates.append(f"returned:{destination}")
    if action == "refused" and reason == "not_on_loan" and destination == "hold_shelf":
        candidates.append("returned:hold_shelf")
    if reason:
        candidates.append(f"{action}:{reason}")
    candidates.append(action)
    for key in candidates:
        if key in _MESSAGES:
            return key
    return "unknown"


def message_for(reply: dict[str, Any], language: str) -> str:
    """The sentence the screen shows for a scan reply, in `language` ("zh" or "en")."""
    lang = language if language in LANGUAGES else "en"
    template = _MESSAGES[message_key(reply)][lang]
    patron = reply.get("patron") or {}
    return template.format(
        name=patron.get("first_name", ""),
        title=reply.get("title") or "",
        due=reply.get("due_date") or "",
    )


def text(key: str, language: str) -> str:
    return _MESSAGES[key][language if language in LANGUAGES else "en"]
