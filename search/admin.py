from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from search.hits import safe_link
from search.models import Search, SearchHit

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: prefix them with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class Echo:
    def write(self, value: str) -> str:
        return value


EXPORT_COLUMNS = [
    "id",
    "created",
    "channel",
    "device",
    "backend",
    "answered_by",
    "result_count",
    "latency_ms",
    "error_code",
    "error_message",
    "notice",
    "top_sku",
    "top_name",
    "top_similarity",
]


def export_rows(queryset: QuerySet[Search]) -> Iterator[list[str]]:
    yield EXPORT_COLUMNS
    for search in queryset.prefetch_related("hits").iterator(chunk_size=500):
        top = next(iter(search.hits.all()), None)
        values = [
            search.pk,
            search.created.isoformat(),
            search.channel,
            search.device,
            search.backend,
            search.answered_by,
            search.result_count,
            search.latency_ms,
            search.error_code,
            search.error_message,
            search.notice,
            top.sku_id if top else "",
            top.name if top else "",
            f"{top.similarity:.4f}" if top else "",
        ]
        yield [csv_cell(v) for v in values]


class SearchHitInline(admin.TabularInline):
    model = SearchHit
    extra = 0
    can_delete = False
    fields = [
        "rank",
        "picture",
        "sku_id",
        "name",
        "price",
        "ware_label",
        "similarity",
        "category_path",
        "detail_url",
        "detail_app_url",
        "source",
    ]
    readonly_fields = fields  # type: ignore[assignment]
    ordering = ["rank"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # Shown through the inline rather than the model's property: a property's header is its attribute name,
    # "Category path", in English whatever the admin's language.
    @admin.display(description=_("category path"))
    def category_path(self, hit: SearchHit) -> str:
        return hit.category_path

    @admin.display(description=_("picture"))
    def picture(self, hit: SearchHit) -> str:
        url = safe_link(hit.image_url)
        if not url:
            return ""
        return format_html('<img src="{}" alt="{}" width="64" loading="lazy">', url, hit.name)


class ErrorFilter(admin.SimpleListFilter):
    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return [("ok", str(_("answered"))), ("error", str(_("failed")))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Search]) -> QuerySet[Search]:
        if self.value() == "ok":
            return queryset.filter(error_code="")
        if self.value() == "error":
            return queryset.exclude(error_code="")
        return queryset


@admin.register(Search)
class SearchAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "thumb",
        "created",
        "channel",
        "backend",
        "answered_by",
        "result_count",
        "latency_ms",
        "device",
        "error_code",
    ]
    list_filter = [
        ("created", admin.DateFieldListFilter),
        "backend",
        "answered_by",
        ErrorFilter,
        "error_code",
        "device",
        "channel",
    ]
    search_fields = ["hits__name", "hits__sku_id", "request_id", "error_message", "like_sku"]
    date_hierarchy = "created"
    inlines = [SearchHitInline]
    actions = ["export_csv"]
    readonly_fields = [
        "photo_preview",
        "created",
        "session_key",
        "device",
        "channel",
        "backend",
        "answered_by",
        "result_count",
        "latency_ms",
        "error_code",
        "error_message",
        "notice",
        "request_id",
        "upstream_request_id",
        "region",
        "filters",
        "subjects",
        "hints",
        "like_sku",
        "photo_width",
        "photo_height",
    ]
    exclude = ["photo", "thumbnail"]

    class Media:
        css = {"all": ["css/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Search]:
        return super().get_queryset(request).distinct()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("photo"))
    def thumb(self, search: Search) -> str:
        if not search.thumbnail:
            return "—"
        return format_html(
            '<img src="{}" alt="{}" class="search-thumb" height="48" loading="lazy">',
            search.thumbnail.url,
            _("query photo"),
        )

    @admin.display(description=_("photo"))
    def photo_preview(self, search: Search) -> str:
        if not search.photo:
            return "—"
        return format_html(
            '<a href="{0}"><img src="{0}" alt="{1}" class="search-photo"></a>', search.photo.url, _("query photo")
        )

    @admin.action(description=_("Export selected searches to CSV"))
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Search]) -> StreamingHttpResponse:
        writer = csv.writer(Echo())
        rows = (writer.writerow(row) for row in export_rows(queryset))
        # A byte-order mark first: Excel, the usual tool for this file, reads UTF-8 without one as the locale's
        # code page (GBK on a Chinese Windows), and every Chinese message would be mojibake.
        response = StreamingHttpResponse(itertools.chain(["\ufeff"], rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="searches.csv"'
        return response

    def delete_model(self, request: HttpRequest, obj: Search) -> None:
        obj.delete_files()
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Search]) -> None:
        for search in queryset:
            search.delete_files()
        super().delete_queryset(request, queryset)
