from django.urls import path

from search import views, views_history, views_results

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("s/<int:pk>/", views_results.search_detail, name="search_detail"),
    path("find/", views_results.find, name="find"),
    path("history/", views_history.history, name="history"),
    path("history/<int:pk>/delete/", views_history.delete_one, name="history_delete"),
    path("history/delete/", views_history.delete_all, name="history_delete_all"),
]
