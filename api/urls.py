from django.urls import path, re_path

from api import views

urlpatterns = [
    re_path(r"^snapshop/query/?$", views.snapshop_query, name="snapshop_query"),
    path("snapshop/openapi.yaml", views.openapi_yaml, name="snapshop_openapi"),
    re_path(r"^snapshop(/.*)?$", views.not_found),  # never Django's HTML 404 under /snapshop/
]
