"""Who may do what in the console: the staff roles and one table of their permissions."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from db.central_models import StaffRole

# The roles are stored with each console user (central_staff_users.role); one definition.
Role = StaffRole


class Permission(enum.StrEnum):
    """One thing a console user may do; views are guarded by exactly one of these."""

    SEARCH = "search"
    # Check out, return and renew at the desk.
    DESK = "desk"
    HOLD_SHELF = "hold_shelf"
    # Place and cancel holds for a student.
    HOLDS = "holds"
    VIEW_RECORDS = "view_records"
    # Parents' names, phones and e-mail addresses.
    VIEW_CONTACTS = "view_contacts"
    # Edit records, block/unblock, add copies, mark lost/found/damaged/withdrawn.
    EDIT_RECORDS = "edit_records"
    # Record compensation cases and payments.
    COMPENSATION = "compensation"
    # Waive a compensation case (money the school gives up).
    WAIVE = "waive"
    LABELS = "labels"
    REPORTS = "reports"
    # CSV/XLSX/PDF downloads and the JSON reports: data that leaves the console.
    EXPORT = "export"
    CHASE = "chase"
    IMPORT = "import"
    RESOLVE_EXCEPTIONS = "resolve_exceptions"
    # The kiosk monitor and the exception list (reading only).
    MONITOR = "monitor"
    MANAGE_USERS = "manage_users"
    MANAGE_KIOSKS = "manage_kiosks"
    AUDIT = "audit"


# Student helpers (学生图管员) staff the desk: they lend, return, find and reserve, and see no
# parents' contact data, change no record, export nothing and waive nothing.
_HELPER = frozenset(
    {
        Permission.SEARCH,
        Permission.DESK,
        Permission.HOLD_SHELF,
        Permission.HOLDS,
        Permission.VIEW_RECORDS,
        Permission.MONITOR,
    }
)
# Admins look after people and machines; only they read the audit log.
_ADMIN_ONLY = frozenset({Permission.MANAGE_USERS, Permission.MANAGE_KIOSKS, Permission.AUDIT})

ROLE_PERMISSIONS: Mapping[StaffRole, frozenset[Permission]] = MappingProxyType(
    {
        Role.HELPER: _HELPER,
        Role.LIBRARIAN: frozenset(Permission) - _ADMIN_ONLY,
        Role.ADMIN: frozenset(Permission),
    }
)


def allows(role: str | StaffRole | None, permission: Permission | str) -> bool:
    """Whether a user with `role` may do `permission`; an unknown role or permission may not."""
    if role is None:
        return False
    try:
        return Permission(permission) in ROLE_PERMISSIONS.get(StaffRole(role), frozenset())
    except ValueError:
        return False


__all__ = ["ROLE_PERMISSIONS", "Permission", "Role", "allows"]
