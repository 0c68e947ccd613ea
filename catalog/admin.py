from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from catalog.models import Product, ProductImage


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    extra = 0
    fields = ["preview", "image", "position", "source_url", "features_version"]
    readonly_fields = ["preview", "source_url", "features_version"]

    @admin.display(description=_("preview"))
    def preview(self, picture: ProductImage) -> str:
        return format_html('<img src="{}" alt="" height="64">', picture.url) if picture.url else "—"


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku_id", "name", "price", "ware_label", "cid1", "cid2", "cid3", "source", "updated"]
    list_filter = ["cid1", "ware_label", "source"]
    search_fields = ["sku_id", "name", "description"]
    inlines = [ProductImageInline]

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            from catalog.index import get_local_index

            index = get_local_index()
            index.update_attributes(obj)
            index.save()

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """New or replaced pictures are embedded at once; deleted ones leave the index."""
        from catalog.index import get_local_index
        from vision.prepare import ImageRejected, prepare_image

        instances = formset.save(commit=False)
        index = get_local_index()
        deleted = [obj.pk for obj in formset.deleted_objects]
        for obj in formset.deleted_objects:
            obj.image.delete(save=False)
            obj.delete()
        if deleted:
            index.remove_pictures(deleted)
        fresh = []
        for picture in instances:
            picture.save()
            if picture.image and "image" in getattr(picture, "_changed_fields", {"image"}):
                try:
                    picture.image.open("rb")
                    fresh.append((picture, prepare_image(picture.image.read()).image))
                except (ImageRejected, OSError):
                    self.message_user(request, _("A picture could not be read and was not indexed."), "warning")
        if fresh:
            index.add_pictures([p for p, _ in fresh], [img for _, img in fresh])
        index.save()
        formset.save_m2m()
