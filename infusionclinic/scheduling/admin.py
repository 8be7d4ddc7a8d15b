from django.contrib import admin

from .models import Chair, Holiday, OpeningHours, StaffShift


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ("location", "weekday", "opens_at", "closes_at")
    list_filter = ("location",)


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ("location", "date", "name")
    list_filter = ("location",)


@admin.register(Chair)
class ChairAdmin(admin.ModelAdmin):
    list_display = ("location", "name", "active")
    list_filter = ("location", "active")


@admin.register(StaffShift)
class StaffShiftAdmin(admin.ModelAdmin):
    list_display = ("user", "location", "starts_at", "ends_at")
    list_filter = ("location",)
