from django.urls import path

from apps.viewer import live_views, personal_views, views

app_name = "events"

# The fixed paths come before the catch-all event id (an event_id may contain slashes).
urlpatterns = [
    path("", views.event_list, name="list"),
    path("saved/", personal_views.saved_query_index, name="saved"),
    path("saved/new/", personal_views.saved_query_new, name="saved_new"),
    path("saved/<int:pk>/edit/", personal_views.saved_query_edit, name="saved_edit"),
    path("saved/<int:pk>/delete/", personal_views.saved_query_remove, name="saved_delete"),
    path("preferences/", personal_views.preferences, name="preferences"),
    path("live/", live_views.live_page, name="live"),
    path("live/stream/", live_views.live_stream, name="live_stream"),
    path("<path:event_id>/verify/", views.event_verify, name="verify"),
    path("<path:event_id>/", views.event_detail, name="detail"),
]
