"""Issue 18 "Done when": the staff inbox and the patient home keep a constant query count as
messages grow. Seeds one location with a patient (who owns a tenth of the threads), a nurse and
a front desk, then `--messages` messages in threads of ten (half clinical, half
administrative, a third with the patient's last message unanswered) with bulk inserts, and
measures in-process (Django's test client: the whole middleware chain, session auth, the view,
the audit events) the queries and the median time of:

- the nurse's and the front desk's inbox (`/messages/inbox/<location>/`),
- the patient's home (`/my/chart/`: the "needs you now" unread line and messages panel),
- the patient's message list (`/messages/mine/`) and `GET /api/v1/messages/threads`,
- the largest thread's page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ic_bench_msg \\
        .venv/bin/python bench/messaging.py --messages 1000 --messages 100000

Each size gets a fresh database (dropped and migrated: `--keep` reuses it). Never part of
`make test`; `tests/test_query_counts.py` asserts the same constancy with 3 vs 30 threads."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ic_bench_msg")

THREAD_SIZE = 10


def seed_messages(
    *, location: Any, patient: Any, patient_user: Any, staff: Any, messages: int
) -> None:
    """`messages` messages in threads of THREAD_SIZE, bulk-inserted (no audit events: this is
    benchmark volume, like ops/scale.py). The patient owns every tenth thread; the others belong
    to other patients of the location."""
    from django.utils import timezone

    from infusionclinic.messaging.models import Message, Thread, ThreadRead
    from tests.factories import PatientFactory

    now = timezone.now()
    thread_count = max(1, messages // THREAD_SIZE)
    others = [PatientFactory(home_location=location) for _ in range(20)]
    threads = []
    for n in range(thread_count):
        owner = patient if n % 10 == 0 else others[n % len(others)]
        last = now - timedelta(minutes=n)
        unanswered = n % 3 == 0
        threads.append(
            Thread(
                patient=owner,
                location=location,
                category="clinical" if n % 2 else "administrative",
                subject=f"Thread {n}",
                status="in_progress" if unanswered else "waiting_on_patient",
                urgent=n % 50 == 0,
                created_by=patient_user,
                created_at=last - timedelta(hours=THREAD_SIZE),
                last_message_at=last,
                last_patient_message_at=last if unanswered else last - timedelta(hours=1),
                last_staff_message_at=last - timedelta(hours=2) if unanswered else last,
                awaiting_staff_since=(last - timedelta(days=n % 5)) if unanswered else None,
                message_count=THREAD_SIZE,
            )
        )
    # PostgreSQL and SQLite (3.35+) return the new primary keys.
    ids = [t.pk for t in Thread.objects.bulk_create(threads, batch_size=2000)]
    batch: list[Message] = []
    for i, thread_id in enumerate(ids):
        for k in range(THREAD_SIZE):
            from_patient = k % 2 == 0
            batch.append(
                Message(
                    thread_id=thread_id,
                    author=patient_user if from_patient else staff,
                    from_patient=from_patient,
                    body=f"Message {k} of thread {i}",
                    created_at=now - timedelta(minutes=i, hours=THREAD_SIZE - k),
                )
            )
        if len(batch) >= 5000:
            Message.objects.bulk_create(batch)
            batch = []
    Message.objects.bulk_create(batch)
    ThreadRead.objects.bulk_create(
        [ThreadRead(thread_id=t, user=staff, read_at=now - timedelta(days=1)) for t in ids[::4]]
    )


def hot_pages(*, location_id: int, largest_thread_id: int) -> list[tuple[str, str, str]]:
    """(name, who, path)."""
    return [
        ("staff inbox (nurse)", "nurse", f"/messages/inbox/{location_id}/"),
        ("staff inbox (front desk)", "front_desk", f"/messages/inbox/{location_id}/"),
        ("patient home", "patient", "/my/chart/"),
        ("patient messages", "patient", "/messages/mine/"),
        ("API thread list (patient)", "patient_api", "/api/v1/messages/threads"),
        ("thread page (nurse)", "nurse", f"/messages/threads/{largest_thread_id}/"),
    ]


def measure(
    clients: dict[str, Any], pages: list[tuple[str, str, str]], repeat: int = 1
) -> dict[str, tuple[int, float]]:
    """name -> (queries of one request, median ms over `repeat`)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    out: dict[str, tuple[int, float]] = {}
    for name, who, path in pages:
        client = clients[who]
        client.get(path)  # warm-up
        counts, times = [], []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code)
            # The idle log-off refreshes the session now and then (a time-based write, not the
            # data's size): left out of the count.
            counts.append(
                sum(
                    1
                    for q in ctx.captured_queries
                    if not q["sql"].startswith('UPDATE "django_session"')
                    and q["sql"] not in ("BEGIN", "COMMIT")
                )
            )
        out[name] = (max(counts), statistics.median(times))
    return out


def bench_fixtures() -> tuple[Any, Any, Any, dict[str, Any]]:
    from tests.factories import (
        LocationFactory,
        PatientFactory,
        api_client,
        logged_in_client,
        make_user,
    )

    location = LocationFactory(code="msgbench", name="Bench", timezone="America/New_York")
    patient = PatientFactory(home_location=location)
    patient_user = make_user("patient", patient=patient)
    nurse = make_user("nurse", location)
    front_desk = make_user("front_desk", location)
    clients = {
        "nurse": logged_in_client(nurse),
        "front_desk": logged_in_client(front_desk),
        "patient": logged_in_client(patient_user),
        "patient_api": api_client(patient_user),
    }
    return location, patient, patient_user, {"nurse": nurse, "clients": clients}


def _fresh_database(keep: bool) -> None:
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql") and not keep:
        admin = psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"],
            dbname="postgres",
            autocommit=True,
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}"')
        admin.execute(f'CREATE DATABASE "{db["NAME"]}"')
        admin.close()
    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, action="append", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host, in-memory mail

    from infusionclinic.messaging.models import Thread

    results: dict[int, dict[str, tuple[int, float]]] = {}
    for size in args.messages:
        connection.close()
        _fresh_database(args.keep)
        location, patient, patient_user, fx = bench_fixtures()
        started = time.perf_counter()
        seed_messages(
            location=location,
            patient=patient,
            patient_user=patient_user,
            staff=fx["nurse"],
            messages=size,
        )
        seeded_s = time.perf_counter() - started
        largest = (
            Thread.objects.filter(location=location)
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        pages = hot_pages(location_id=location.pk, largest_thread_id=largest)
        results[size] = measure(fx["clients"], pages, repeat=args.repeat)
        print(f"{size} messages seeded in {seeded_s:.1f} s ({connection.vendor})", flush=True)
    sizes = args.messages
    print("| page | " + " | ".join(f"{s:,} msgs: queries / median ms" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for name in results[sizes[0]]:
        cells = [f"{results[s][name][0]} / {results[s][name][1]:.1f}" for s in sizes]
        print(f"| {name} | " + " | ".join(cells) + " |")
    counts = {name: {results[s][name][0] for s in sizes} for name in results[sizes[0]]}
    grows = {name: c for name, c in counts.items() if len(c) > 1}
    print("query counts constant" if not grows else f"QUERY COUNTS GROW: {grows}")
    sys.exit(1 if grows else 0)


if __name__ == "__main__":
    main()
