"""School-year rollover: every class moves up a grade, the top grade leaves (with its unreturned
books listed per class first); once per school year, recorded, and pulled by the kiosks."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.central_models import Rollover
from db.models import Item, Loan, Patron, PatronStatus, Title
from kiosk.circulation.overdue import ChasePolicy, loan_days_overdue
from kiosk.circulation.schoolyear import (
    MAX_GRADE,
    ClassKey,
    SchoolCalendar,
    class_key,
    class_label,
    grade_label,
)


@dataclass(frozen=True)
class ClassMove:
    """One class of the roster as it is written, and where the rollover puts it."""

    class_name: str
    key: ClassKey
    students: int
    # None: the class is in the top grade and leaves.
    to_key: ClassKey | None

    @property
    def to_class_name(self) -> str:
        return class_label(self.to_key, "zh") if self.to_key else ""


@dataclass(frozen=True)
class LeaverLoan:
    """A book a leaving student has not returned."""

    class_key: ClassKey
    student_number: str
    student_name: str
    item_barcode: str
    title: str
    due_date: dt.date
    days_overdue: int


@dataclass
class RolloverPlan:
    """What `apply_rollover` would do: shown as the preview, then applied as it is."""

    school_year: int
    top_grade: int
    moves: list[ClassMove] = field(default_factory=list)
    leaving: list[ClassMove] = field(default_factory=list)
    # Roster classes the class key does not understand: left where they are, listed.
    unknown: list[tuple[str, int]] = field(default_factory=list)
    leavers_loans: list[LeaverLoan] = field(default_factory=list)
    # When this school year's rollover was already done (then nothing is applied).
    done_at: dt.datetime | None = None

    @property
    def students_moving(self) -> int:
        return sum(m.students for m in self.moves)

    @property
    def students_leaving(self) -> int:
        return sum(m.students for m in self.leaving)

    def leavers_loans_by_class(self) -> list[tuple[ClassKey, list[LeaverLoan]]]:
        grouped: dict[ClassKey, list[LeaverLoan]] = {}
        for loan in self.leavers_loans:
            grouped.setdefault(loan.class_key, []).append(loan)
        return sorted(grouped.items())


def rollover_school_year(calendar: SchoolCalendar, today: dt.date) -> int:
    """The school year a rollover made `today` prepares: the one whose start is nearest
    (in July 2027 and on 3 September 2027 alike, 2027-2028)."""
    current = calendar.school_year_of(today)
    this_start = calendar.year_start.in_year(current)
    next_start = calendar.year_start.in_year(current + 1)
    return current if today - this_start < next_start - today else current + 1


def plan_rollover(
    session: Session,
    calendar: SchoolCalendar,
    policy: ChasePolicy,
    now: dt.datetime,
    *,
    top_grade: int | None = None,
) -> RolloverPlan:
    """The rollover at `now`: students still at school (not `left`), by class as the roster
    writes it. `top_grade` None: the highest grade in the roster leaves. Reads only."""
    today = policy.calendar.local_date(now)
    year = rollover_school_year(calendar, today)
    counts = Counter(
        session.scalars(select(Patron.class_name).where(Patron.status != PatronStatus.LEFT))
    )
    keyed = {name: class_key(name) for name in counts}
    grades = [key.grade for key in keyed.values() if key is not None]
    top = top_grade if top_grade is not None else max(grades, default=MAX_GRADE)
    plan = RolloverPlan(school_year=year, top_grade=top)
    done = session.scalar(select(Rollover).where(Rollover.school_year == year))
    if done is not None:
        plan.done_at = done.at
    for name, students in sorted(counts.items(), key=lambda kv: (keyed[kv[0]] is None, kv)):
        key = keyed[name]
        if key is None:
            plan.unknown.append((name, students))
        elif key.grade >= top:
            plan.leaving.append(ClassMove(name, key, students, None))
        else:
            plan.moves.append(ClassMove(name, key, students, ClassKey(key.grade + 1, key.number)))
    plan.moves.sort(key=lambda m: (m.key, m.class_name))
    plan.leaving.sort(key=lambda m: (m.key, m.class_name))
    leaving_names = {m.class_name: m.key for m in plan.leaving}
    if leaving_names:
        rows = session.execute(
            select(
                Patron.class_name,
                Patron.student_number,
                Patron.name,
                Item.barcode,
                Title.title,
                Loan.due_at,
            )
            .join(Patron, Patron.id == Loan.patron_id)
            .join(Item, Item.id == Loan.item_id)
            .join(Title, Title.id == Item.title_id)
            .where(
                Loan.returned_at.is_(None),
                Patron.status != PatronStatus.LEFT,
                Patron.class_name.in_(list(leaving_names)),
            )
        )
        plan.leavers_loans = sorted(
            (
                LeaverLoan(
                    class_key=leaving_names[r.class_name],
                    student_number=r.student_number,
                    student_name=r.name,
                    item_barcode=r.barcode,
                    title=r.title,
                    due_date=policy.calendar.local_date(r.due_at),
                    days_overdue=loan_days_overdue(policy, r.due_at, now),
                )
                for r in rows
            ),
            key=lambda loan: (loan.class_key, loan.student_number, loan.item_barcode),
        )
    return plan


@dataclass(frozen=True)
class RolloverResult:
    applied: bool
    students_moved: int = 0
    students_left: int = 0


def apply_rollover(
    session: Session, plan: RolloverPlan, now: dt.datetime, *, by_username: str
) -> RolloverResult:
    """Move the plan's classes up a grade and mark its leavers `left`, once per school year.

    Caller commits, in a central session (central.db.make_central_session_factory) so the
    kiosks pull the changed students. A plan whose year is already done changes nothing.
    Leavers keep their open loans: the books are still the library's to get back.
    """
    if plan.done_at is not None or session.scalar(
        select(Rollover.id).where(Rollover.school_year == plan.school_year)
    ):
        return RolloverResult(applied=False)
    # Who is in which class is read before anything moves: "三年级二班" becomes "四年级2班",
    # which may be how the roster writes this year's fourth grade too.
    members = {
        move.class_name: list(
            session.scalars(
                select(Patron).where(
                    Patron.class_name == move.class_name, Patron.status != PatronStatus.LEFT
                )
            )
        )
        for move in plan.moves + plan.leaving
    }
    moved = left = 0
    for move in plan.moves:
        assert move.to_key is not None
        for patron in members[move.class_name]:
            patron.class_name = move.to_class_name
            patron.grade = _next_grade_text(patron.grade, move.to_key.grade)
            patron.updated_at = now
            moved += 1
    for move in plan.leaving:
        for patron in members[move.class_name]:
            patron.status = PatronStatus.LEFT
            patron.updated_at = now
            left += 1
    session.add(
        Rollover(
            school_year=plan.school_year,
            at=now,
            by_username=by_username,
            top_grade=plan.top_grade,
            students_moved=moved,
            students_left=left,
        )
    )
    session.flush()
    return RolloverResult(applied=True, students_moved=moved, students_left=left)


def _next_grade_text(old: str, grade: int) -> str:
    # The roster's grade column as the school writes it: digits stay digits ("3" → "4").
    return str(grade) if old.strip().isdigit() or not old.strip() else grade_label(grade, "zh")
