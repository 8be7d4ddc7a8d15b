from django.contrib import admin

from .models import BillableService, BillingProvider, PackagePlan, Price


@admin.register(BillableService)
class BillableServiceAdmin(admin.ModelAdmin):
    list_display = ["code", "label", "rule_id", "timed", "active"]


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ["service", "location", "unit_price", "effective_from"]
    list_filter = ["location"]

    def has_change_permission(self, request, obj=None):  # noqa: ANN001, ANN201
        # A price change is a new row (effective-dated), so past invoices stay explained.
        return False


@admin.register(PackagePlan)
class PackagePlanAdmin(admin.ModelAdmin):
    list_display = ["name", "location", "service", "sessions", "price", "active"]


@admin.register(BillingProvider)
class BillingProviderAdmin(admin.ModelAdmin):
    list_display = ["display_name", "npi", "user"]
