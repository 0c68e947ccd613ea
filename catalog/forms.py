"""The product as the admin edits it, held to the rules the import holds a catalog row to (catalog.rows.parse_row).

Without them the admin saved what no import would: a negative price (a card showing ¥-3.00, missed by the price
filter), a label that is neither 自营 nor 非自营 (the product neither self-operated nor marketplace), a
`javascript:` link (never rendered, so the product silently lost its "View in shop" button).
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from catalog.models import Product
from catalog.rows import LABELS, RowError, _link
from search.hits import CENTS, PRICE_LIMIT, safe_link

# What the import stores for a label (it also reads "self", "third-party"...): empty, 自营 or 非自营.
STORED_LABELS = sorted(set(LABELS.values()))


class ProductForm(forms.ModelForm):
    # Declared rather than the model's: the column's own check (12 digits, 2 of them cents) refuses a price at
    # PRICE_LIMIT or above only as "no more than 10 digits before the decimal point", and a negative one not at all.
    price = forms.DecimalField(
        label=capfirst(_("price")),  # the model field's name, translated as it is
        required=False,
        decimal_places=2,
        min_value=Decimal(0),
        max_value=PRICE_LIMIT - CENTS,
        error_messages={
            "min_value": _("A price cannot be negative."),
            "max_value": _("A price can be at most %(limit_value)s."),
        },
    )
    ware_label = forms.ChoiceField(
        label=capfirst(_("label")),
        required=False,
        choices=[(label, label or "—") for label in STORED_LABELS],
        error_messages={"invalid_choice": _("The label is 自营 (self-operated), 非自营 (marketplace) or empty.")},
    )

    class Meta:
        model = Product
        fields = [
            "sku_id",
            "name",
            "price",
            "ware_label",
            "cid1",
            "cid2",
            "cid3",
            "detail_url",
            "detail_app_url",
            "description",
            "source",
        ]

    def clean_detail_url(self) -> str:
        return shop_link(self.cleaned_data["detail_url"])

    def clean_detail_app_url(self) -> str:
        return shop_link(self.cleaned_data["detail_app_url"])


def shop_link(url: str) -> str:
    """`url` if it is a link the import would take and the pages would render (search.hits.safe_link, which also
    refuses the "//host" a browser reads as another site); else a ValidationError."""
    try:
        _link({"link": url}, "link", 0)
    except RowError:
        accepted = False
    else:
        accepted = safe_link(url) == url
    if not accepted:
        raise forms.ValidationError(
            _("Enter a link starting with http://, https:// or / (a page of this site)."), code="invalid"
        )
    return url
