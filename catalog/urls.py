from django.urls import path

from catalog import views

urlpatterns = [
    path("p/<path:sku_id>/", views.product_detail, name="product"),  # path: a skuId may hold "/"
]
