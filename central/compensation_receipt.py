"""The printable receipt of a compensation case (赔偿收据): one A5 page in Chinese, English beside."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from central.i18n import local_datetime
from central.pdf import CJK_FAMILY, cjk_document
from kiosk.circulation.compensation import AmountBasis, CaseReason, CaseStatus, yuan_text
from kiosk.circulation.schoolyear import class_display

# Each status and reason in the receipt's words, Chinese first.
STATUS_WORDS = {
    CaseStatus.OPEN: "待缴 Open",
    CaseStatus.PAID: "已缴 Paid",
    CaseStatus.WAIVED: "已免除 Waived",
    CaseStatus.REPLACED: "以书代赔 Replaced with the same book",
    CaseStatus.CANCELLED: "已撤销（书已找到） Cancelled: the book was found",
    CaseStatus.REFUNDED: "已退款（书已找到） Refunded: the book was found",
}
REASON_WORDS = {CaseReason.LOST: "遗失 Lost", CaseReason.DAMAGED: "损坏 Damaged"}
BASIS_WORDS = {
    AmountBasis.PRICE: "按定价 by the list price",
    AmountBasis.MINIMUM: "最低赔偿额 the minimum",
    AmountBasis.FIXED: "固定金额 a fixed sum",
    AmountBasis.NO_PRICE: "无定价，按固定金额 no list price: a fixed sum",
}


@dataclass(frozen=True)
class ReceiptFacts:
    """What the receipt prints; gathered by the caller from the case and its rows."""

    case_number: str
    school: str
    student_name: str
    class_name: str
    title: str
    barcode: str
    reason: str
    amount_fen: int
    price_fen: int | None
    basis: str
    status: str
    recorded_by: str
    recorded_at: dt.datetime
    settled_by: str | None
    settled_at: dt.datetime | None
    note: str


def case_number(case_id: int, recorded_at: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """The number a receipt and the console show: year of recording and the case id, "PC2026-000012"."""
    return f"PC{recorded_at.astimezone(zone).year}-{case_id:06d}"


def receipt_pdf(facts: ReceiptFacts, zone: zoneinfo.ZoneInfo, printed_at: dt.datetime) -> bytes:
    """The receipt as PDF bytes (A5 portrait). Raises central.pdf.MissingCJKFont without a font."""
    # A5 as millimetres: fpdf2 warns on the named size (its dimensions changed in 2.8.5).
    pdf = cjk_document(page_format=(148, 210))
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_margins(14, 14, 14)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font(CJK_FAMILY, "B", 15)
    pdf.multi_cell(width, 8, facts.school, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(CJK_FAMILY, "B", 13)
    heading = "图书赔偿收据 Compensation receipt"
    pdf.multi_cell(width, 8, heading, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    when = local_datetime(facts.recorded_at, zone, "zh")
    settled = "—"
    if facts.settled_at is not None:
        settled = f"{facts.settled_by or ''}  {local_datetime(facts.settled_at, zone, 'zh')}"
    price = f"¥{yuan_text(facts.price_fen)}" if facts.price_fen is not None else "—"
    basis = BASIS_WORDS.get(AmountBasis(facts.basis), facts.basis)
    rows = [
        ("单号 No.", facts.case_number),
        ("学生 Student", facts.student_name),
        ("班级 Class", class_display(facts.class_name, "zh") or "—"),
        ("书名 Title", f"《{facts.title}》"),
        ("条码 Barcode", facts.barcode),
        ("原因 Reason", REASON_WORDS.get(CaseReason(facts.reason), facts.reason)),
        ("定价 List price", price),
        ("金额 Amount", f"¥{yuan_text(facts.amount_fen)} 元（{basis}）"),
        ("状态 Status", STATUS_WORDS.get(CaseStatus(facts.status), facts.status)),
        ("登记 Recorded", f"{facts.recorded_by}  {when}"),
        ("办理 Settled", settled),
    ]
    if facts.note:
        rows.append(("备注 Note", facts.note))
    label_w = 32
    pdf.set_font(CJK_FAMILY, "", 10.5)
    for label, value in rows:
        pdf.set_font(CJK_FAMILY, "B", 10.5)
        pdf.cell(label_w, 7, label)
        pdf.set_font(CJK_FAMILY, "", 10.5)
        pdf.multi_cell(width - label_w, 7, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.cell(width / 2, 7, "经办人 Staff：________")
    pdf.cell(width / 2, 7, "学生/家长 Student/parent：________", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(CJK_FAMILY, "", 8)
    printed = f"打印于 Printed {local_datetime(printed_at, zone, 'zh')}"
    pdf.cell(width, 5, printed, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
