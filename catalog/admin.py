from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from PIL import Image

from catalog.forms import ProductForm
from catalog.models import Product, ProductImage
from catalog.pictures import PictureUnavailable, decode_picture
from search.forms import error_text


class ProductImageForm(forms.ModelForm):
    """A picture uploaded in the admin is kept as the import keeps one: decoded, upright, as a JPEG of at most
    STORED_PICTURE_SIDE (a HEIC as uploaded showed broken in browsers); one it cannot read is refused on its row."""

    class Meta:
        model = ProductImage
        fields = ["image", "position"]

    decoded: Image.Image | None = None  # the upload as the index gets it (save_formset), as the import gives it

    def clean_image(self) -> object:
        upload = self.cleaned_data.get("image")
        if not isinstance(upload, UploadedFile):  # unchanged, or cleared
            return upload
        try:
            loaded = decode_picture(upload.name or "picture", upload.read())
        except PictureUnavailable as exc:
            if exc.rejected is None:
                raise forms.ValidationError(str(exc)) from exc
            # In the admin's language (the decoder's own sentence is English), sizes kept where it named them.
            reason = error_text(exc.rejected.code, exc.rejected.message)
            raise forms.ValidationError(f"{upload.name}: {reason}") from exc
        self.instance.content_hash = loaded.digest
        self.decoded = loaded.image
        return ContentFile(loaded.stored_jpeg(), name=f"{loaded.digest[:24]}.jpg")


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    form = ProductImageForm
    extra = 0
    fields = ["preview", "image", "position", "source_url", "features_version"]
    readonly_fields = ["preview", "source_url", "features_version"]

    @admin.display(description=_("preview"))
    def preview(self, picture: ProductImage) -> str:
        return format_html('<img src="{}" alt="" height="64">', picture.url) if picture.url else "—"


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductForm
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

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Product], search_term: str
    ) -> tuple[QuerySet[Product], bool]:
        """The shop's text search (every word, any case of any alphabet: SQLite's LIKE folds ASCII only), or
        part of a skuId."""
        term = search_term.strip()
        if not term:
            return queryset, False
        by_words = Product.objects.text_search(term).values("pk")
        return queryset.filter(Q(pk__in=by_words) | Q(sku_id__icontains=term)), False

    # In a transaction of their own: the "delete selected" action runs in none, and outside one the files would
    # go at once, before the rows.
    def delete_model(self, request: HttpRequest, obj: Product) -> None:
        with transaction.atomic():
            forget_pictures_on_commit(Product.objects.filter(pk=obj.pk))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        with transaction.atomic():
            forget_pictures_on_commit(queryset)
            super().delete_queryset(request, queryset)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """New or replaced pictures are embedded at once; deleted ones leave the index."""
        from catalog.index import get_local_index

        instances = formset.save(commit=False)
        decoded = {id(row.instance): row.decoded for row in formset.forms if getattr(row, "decoded", None) is not None}
        index = get_local_index()
        deleted = [obj.pk for obj in formset.deleted_objects]
        for obj in formset.deleted_objects:
            obj.image.delete(save=False)
            obj.delete()
        if deleted:
            index.remove_pictures(deleted)
        fresh = []
        last = max((p.position for p in form.instance.images.all()), default=-1) if form.instance.pk else -1
        for picture in instances:
            if picture.pk is None and picture.position == 0 and last >= 0:  # after the pictures already there
                last += 1
                picture.position = last
            picture.save()
            if id(picture) in decoded:  # a new or replaced upload, decoded once by its form
                fresh.append((picture, decoded[id(picture)]))
        if fresh:
            index.add_pictures([p for p, _ in fresh], [img for _, img in fresh])
        index.save()
        formset.save_m2m()


def forget_pictures_on_commit(products: QuerySet[Product]) -> None:
    """The products' pictures are being deleted with them (CASCADE): once that is committed, delete their files
    (else still served under /media/) and take them out of the index (else this process finds them until a
    restart; saving it tells the other workers), as the importer does for stale pictures. Not before the commit:
    a delete that fails would leave products whose pictures are gone."""
    pictures = list(ProductImage.objects.filter(product__in=products).only("pk", "image"))
    if not pictures:
        return

    def forget() -> None:
        from catalog.index import get_local_index

        index = get_local_index()
        index.remove_pictures([p.pk for p in pictures])
        index.save()
        for picture in pictures:
            if picture.image:
                picture.image.delete(save=False)

    transaction.on_commit(forget)
