from django.urls import path

from catalog import views

urlpatterns = [
    path("p/<str:sku_id>/", views.product_detail, name="product"),
]
