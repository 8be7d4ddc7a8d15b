"""Reads of messaging, always scoped by the user (STYLE.md habit 3). `threads_visible_to` is the
one place that decides which threads a user may see:

- a patient: their own threads;
- staff: threads of their own locations (emergency access to a chart does not open its
  messages), administrative threads with MESSAGE_ADMINISTRATIVE (front desk, nurses,
  prescribers), clinical threads with MESSAGE_CLINICAL (nurses, prescribers);
- anyone else: none.

A thread, message or attachment outside that set answers 404 and writes a `denied` event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import STAFF_ROLES, Perm, Role
from infusionclinic.common.access import denied
from infusionclinic.common.ids import id_from_path

from .business_days import answer_due_at
from .models import (
    Attachment,
    Message,
    Thread,
    ThreadCategory,
    ThreadFiling,
    ThreadRead,
    ThreadStatus,
)

INBOX_PAGE = 50
PORTAL_PANEL_THREADS = 5
PATIENT_PAGE = 20


def categories_for(user: User) -> list[str]:
    """The thread categories a staff user's role may read."""
    allowed = []
    if user.has_role_perm(Perm.MESSAGE_ADMINISTRATIVE):
        allowed.append(ThreadCategory.ADMINISTRATIVE.value)
    if user.has_role_perm(Perm.MESSAGE_CLINICAL):
        allowed.append(ThreadCategory.CLINICAL.value)
    return allowed


def threads_visible_to(*, user: User) -> QuerySet[Thread]:
    if not user.is_authenticated or not user.is_active:
        return Thread.objects.none()
    if user.role == Role.PATIENT:
        if not user.has_role_perm(Perm.MESSAGE_OWN):
            return Thread.objects.none()
        return Thread.objects.filter(patient__user=user)
    if user.role in STAFF_ROLES:
        categories = categories_for(user)
        if not categories:
            return Thread.objects.none()
        return Thread.objects.filter(location__in=user.locations.all(), category__in=categories)
    return Thread.objects.none()


def thread_get_for_user(*, user: User, thread_id: int | str | None) -> Thread:
    pk = id_from_path(thread_id)
    thread = (
        threads_visible_to(user=user)
        .select_related("patient__home_location__clinic", "location__clinic", "assignee")
        .filter(pk=pk)
        .first()
        if pk is not None
        else None
    )
    if thread is None:
        raise denied(user, "messaging.Thread", thread_id)
    return thread


def attachment_get_for_user(*, user: User, attachment_id: int | str | None) -> Attachment:
    """An attachment of a visible thread: sent with a message, or still pending and uploaded by
    this user (nobody else sees an upload before it is sent)."""
    pk = id_from_path(attachment_id)
    found = (
        Attachment.objects.select_related("thread__patient", "message")
        .filter(pk=pk, thread__in=threads_visible_to(user=user))
        .filter(Q(message__isnull=False) | Q(uploaded_by=user))
        .first()
        if pk is not None
        else None
    )
    if found is None:
        raise denied(user, "messaging.Attachment", attachment_id)
    return found


def filing_get_for_user(*, user: User, filing_id: int | str | None) -> ThreadFiling:
    pk = id_from_path(filing_id)
    found = (
        ThreadFiling.objects.select_related("thread", "patient")
        .filter(pk=pk, thread__in=threads_visible_to(user=user))
        .first()
        if pk is not None
        else None
    )
    if found is None:
        raise denied(user, "messaging.ThreadFiling", filing_id)
    return found


def thread_messages(*, thread: Thread) -> list[Message]:
    """The thread's messages, oldest first, with authors and attachments (3 queries)."""
    return list(
        Message.objects.filter(thread=thread)
        .select_related("author")
        .prefetch_related("attachments")
        .order_by("created_at", "pk")
    )


def _with_unread(qs: QuerySet[Thread], user: User) -> QuerySet[Thread]:
    """Annotate `unread`: the other side wrote after this user's read mark (or there is none)."""
    read_after = ThreadRead.objects.filter(thread=OuterRef("pk"), user=user)
    last_other = "last_staff_message_at" if user.role == Role.PATIENT else "last_patient_message_at"
    mark = read_after.filter(read_at__gte=OuterRef(last_other))
    return qs.annotate(
        unread=ExpressionWrapper(
            Q(**{f"{last_other}__isnull": False}) & ~Exists(mark), output_field=BooleanField()
        )
    )


# --- Staff inbox --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    thread: Thread
    overdue: bool
    answer_due_at: datetime | None
    unread: bool


@dataclass(frozen=True)
class Inbox:
    location: Location
    rows: list[InboxRow]
    status: str
    category: str
    counts: dict[str, int]
    categories: list[str]

    @property
    def status_counts(self) -> list[tuple[str, str, int]]:
        return [(value, label, self.counts.get(value, 0)) for value, label in ThreadStatus.choices]


def inbox_locations(*, user: User) -> QuerySet[Location]:
    if user.role not in STAFF_ROLES or not categories_for(user):
        return Location.objects.none()
    return user.locations.all().order_by("name")


def inbox_location_get(*, user: User, location_id: int | str) -> Location:
    pk = id_from_path(location_id)
    location = inbox_locations(user=user).filter(pk=pk).first() if pk is not None else None
    if location is None:
        raise denied(user, "accounts.Location", location_id)
    return location


def _closed_days(location: Location) -> frozenset[date]:
    from infusionclinic.scheduling.models import Holiday

    today = timezone.localdate(timezone=location.tzinfo)
    return frozenset(
        Holiday.objects.filter(location=location, date__gte=date(today.year - 1, 1, 1)).values_list(
            "date", flat=True
        )
    )


def staff_inbox(
    *,
    user: User,
    location: Location,
    status: str = "",
    category: str = "",
    now: datetime | None = None,
) -> Inbox:
    """One location's threads this user may read, open ones by default, urgent first, then
    overdue (unanswered for more than one business day), then newest. A fixed number of
    queries whatever the number of threads or messages."""
    now = now or timezone.now()
    allowed = categories_for(user)
    qs = threads_visible_to(user=user).filter(location=location)
    counts_qs = qs
    if category in allowed:
        qs = qs.filter(category=category)
    else:
        category = ""
    if status in ThreadStatus.values:
        qs = qs.filter(status=status)
    else:
        status = ""
        qs = qs.exclude(status=ThreadStatus.CLOSED)
    counts = dict.fromkeys(ThreadStatus.values, 0)
    for row in counts_qs.values("status").annotate(n=Count("pk")).order_by():
        counts[row["status"]] = row["n"]
    threads = list(
        _with_unread(qs, user)
        .select_related("patient", "assignee")
        .order_by(
            "-urgent",
            # Waiting longest first; answered threads after them on every database.
            F("awaiting_staff_since").asc(nulls_last=True),
            "-last_message_at",
            "-pk",
        )[:INBOX_PAGE]
    )
    closed = _closed_days(location)
    rows = []
    for thread in threads:
        due = (
            answer_due_at(thread.awaiting_staff_since, tz=location.tzinfo, closed=closed)
            if thread.awaiting_staff_since and thread.status != ThreadStatus.CLOSED
            else None
        )
        rows.append(
            InboxRow(
                thread=thread,
                overdue=due is not None and now > due,
                answer_due_at=due,
                unread=bool(getattr(thread, "unread", False)),
            )
        )
    # Urgent first, then overdue, then the rest (the query's order within each).
    rows.sort(key=lambda r: (not r.thread.urgent, not r.overdue))
    return Inbox(
        location=location,
        rows=rows,
        status=status,
        category=category,
        counts=counts,
        categories=allowed,
    )


def assignees_for(*, thread: Thread) -> list[User]:
    """Active staff of the thread's location whose role may read its category."""
    perm = (
        Perm.MESSAGE_CLINICAL
        if thread.category == ThreadCategory.CLINICAL
        else Perm.MESSAGE_ADMINISTRATIVE
    )
    users = User.objects.filter(
        is_active=True, locations=thread.location, role__in=list(STAFF_ROLES)
    ).order_by("full_name", "pk")
    return [u for u in users if u.has_role_perm(perm)]


# --- The patient's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class PortalMessages:
    threads: list[Thread]
    unread_count: int
    total: int
    offset: int = 0

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.threads)
        return end if end < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - PATIENT_PAGE) if self.offset > 0 else None


def patient_threads(*, user: User, limit: int = PATIENT_PAGE, offset: int = 0) -> PortalMessages:
    """One page of the patient's own threads, newest first, each with `unread`; in 3 queries
    whatever the number of threads or messages."""
    if user.role != Role.PATIENT:
        return PortalMessages(threads=[], unread_count=0, total=0)
    qs = threads_visible_to(user=user)
    annotated = _with_unread(qs, user)
    threads = list(annotated.order_by("-last_message_at", "-pk")[offset : offset + limit])
    unread = annotated.filter(unread=True).count()
    total = qs.count()
    return PortalMessages(threads=threads, unread_count=unread, total=total, offset=offset)


def patient_unread_count(*, user: User) -> int:
    """How many of the patient's threads hold a message they have not read (one query)."""
    if user.role != Role.PATIENT:
        return 0
    return _with_unread(threads_visible_to(user=user), user).filter(unread=True).count()


def thread_is_unread(*, user: User, thread: Thread) -> bool:
    return bool(
        _with_unread(Thread.objects.filter(pk=thread.pk), user)
        .values_list("unread", flat=True)
        .first()
    )


def staff_inbox_row_due(*, thread: Thread) -> datetime | None:
    """When the patient's unanswered message becomes overdue (one business day)."""
    if thread.awaiting_staff_since is None:
        return None
    location = thread.location
    return answer_due_at(
        thread.awaiting_staff_since, tz=location.tzinfo, closed=_closed_days(location)
    )
