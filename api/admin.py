from __future__ import annotations

import secrets

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from api.models import ApiKey, ApiKeyUsage


class UsageInline(admin.TabularInline):
    model = ApiKeyUsage
    fields = ["day", "requests", "refused"]
    readonly_fields = ["day", "requests", "refused"]
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-day"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "state_label", "daily_quota", "requests_today", "expires", "last_used", "created"]
    list_filter = ["revoked"]
    search_fields = ["name", "prefix"]
    fields = ["name", "prefix", "expires", "daily_quota", "revoked", "last_used", "created"]
    readonly_fields = ["prefix", "last_used", "created"]
    inlines = [UsageInline]
    actions = ["revoke"]

    @admin.display(description=_("state"))
    def state_label(self, obj: ApiKey) -> str:
        return str(obj.state().label)

    @admin.display(description=_("requests today"))
    def requests_today(self, obj: ApiKey) -> int:
        return obj.requests_today()

    def save_model(self, request: HttpRequest, obj: ApiKey, form: object, change: bool) -> None:
        if not change:
            raw = secrets.token_hex(16)
            obj.set_raw_key(raw)
            super().save_model(request, obj, form, change)
            messages.warning(request, _("The new key is %(key)s — copy it now, it is not shown again.") % {"key": raw})
            return
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.update(revoked=True)
        message = ngettext("%(count)d key revoked.", "%(count)d keys revoked.", count) % {"count": count}
        messages.success(request, message)
