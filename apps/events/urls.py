from django.urls import path

from apps.events import views

app_name = "events"

urlpatterns = [
    path("", views.event_list, name="list"),
    path("<path:event_id>/", views.event_detail, name="detail"),
]
