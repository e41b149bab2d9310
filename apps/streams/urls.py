from django.urls import path

from apps.streams import views

app_name = "streams"

urlpatterns = [
    path("", views.destination_list, name="list"),
    path("new/", views.destination_kinds, name="kinds"),
    path("new/<slug:kind>/", views.destination_edit, name="new"),
    path("<int:pk>/", views.destination_detail, name="detail"),
    path("<int:pk>/edit/", views.destination_edit, name="edit"),
    path("<int:pk>/preview/", views.destination_preview, name="preview"),
    path("<int:pk>/test/", views.destination_test, name="test"),
    path("<int:pk>/pause/", views.destination_pause, name="pause"),
    path("<int:pk>/replay/", views.destination_replay, name="replay"),
    path("<int:pk>/dead-letters/replay/", views.dead_letters_replay, name="dead_replay"),
    path("<int:pk>/delete/", views.destination_delete, name="delete"),
]
