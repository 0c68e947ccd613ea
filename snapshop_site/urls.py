from django.conf import settings
from django.contrib import admin
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import include, path
from django.views.static import serve


def media(request: HttpRequest, path: str) -> HttpResponse | FileResponse:
    """Query photos and catalog pictures; a production site would put these behind its web server.

    MEDIA_ROOT is read per request so that a changed setting (tests, a second data folder) is honoured.
    """
    return serve(request, path, document_root=str(settings.MEDIA_ROOT))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("catalog.urls")),
    path("", include("search.urls")),
    path("", include("api.urls")),
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", media, name="media"),
]
