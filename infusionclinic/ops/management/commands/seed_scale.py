"""Write chain-scale volume fast (issue 13): N patients with a course, signed orders, ~10
infusions each with vitals, assessments, invoices and payments, controlled-substance entries,
appointments on chairs over ~3 years, a few sessions in progress today, and the audit events of
those writes already sealed into the hash chain (`verify_audit` passes afterwards). COPY on
PostgreSQL, bulk_create on SQLite; ends with ANALYZE on PostgreSQL (autovacuum may be off).
What is written, and how, is in `infusionclinic/ops/scale.py`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from infusionclinic.ops.scale import seed

MAX_PATIENTS = 10_000_000


def _patients(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise CommandError(f"--patients must be a whole number, not {value!r}.") from None
    if not 1 <= number <= MAX_PATIENTS:
        raise CommandError(f"--patients must be between 1 and {MAX_PATIENTS:,}, not {number}.")
    return number


class Command(BaseCommand):
    help = "Bulk-load N patients with their clinical volume (and audit events) for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", required=True, help="how many patients to add")
        parser.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
        parser.add_argument(
            "--rebuild-indexes",
            action="store_true",
            help="PostgreSQL: drop the big tables' non-unique secondary indexes for the load and "
            "build them again at the end (only on a database nothing else is using)",
        )

    def handle(self, *args: object, **options: object) -> None:
        patients = _patients(str(options["patients"]))
        result = seed(
            patients=patients,
            seed=int(options["seed"]),  # type: ignore[call-overload]
            out=lambda line: self.stdout.write(line, ending="\r"),
            rebuild_indexes=bool(options["rebuild_indexes"]),
        )
        self.stdout.write("")
        rows = result["rows"]
        width = max(len(name) for name in rows)
        self.stdout.write("rows written:")
        for name, count in rows.items():
            self.stdout.write(f"  {name:<{width}} {count:>12,}")
        self.stdout.write(f"  {'total':<{width}} {sum(rows.values()):>12,}")
        self.stdout.write("seconds:")
        for name, seconds in {**result["phases"], **result["write_seconds"]}.items():
            self.stdout.write(f"  {name:<40} {seconds:8.1f}")
        self.stdout.write("CPU seconds (a loaded machine stretches wall time, not these):")
        for name, seconds in result["cpu_seconds"].items():
            self.stdout.write(f"  {name:<40} {seconds:8.1f}")
        total = result["phases"]["total"]
        self.stdout.write(
            self.style.SUCCESS(
                f"{patients:,} patients in {total:.1f} s ({patients / total:,.0f}/s)."
            )
        )
