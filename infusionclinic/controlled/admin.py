from django.contrib import admin

from .models import Count, Discrepancy, LedgerEntry, Lot, Product


class ReadOnlyAdmin(admin.ModelAdmin):
    """CS-45: the log is written only through the services; the admin only reads it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ["ndc", "name", "strength_mg_per_ml", "container_ml", "schedule"]


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ["lot_number", "product", "location", "expiry"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["lot", "seq", "kind", "qty_ml", "delta_ml", "balance_after_ml", "actor"]


@admin.register(Count)
class CountAdmin(ReadOnlyAdmin):
    list_display = ["lot", "counted_ml", "expected_ml", "method", "counted_at"]


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    list_display = ["lot", "status", "opened_at"]
