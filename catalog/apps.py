from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Catalog")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from catalog.textsearch import register_sqlite_lower

        connection_created.connect(register_sqlite_lower, dispatch_uid="snapshop-sqlite-lower")
