from django.urls import path

from apps.alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alert_index, name="list"),
    path("<int:pk>/", views.alert_detail, name="detail"),
    path("<int:pk>/acknowledge/", views.alert_transition, {"verb": "acknowledge"}, name="acknowledge"),
    path("<int:pk>/resolve/", views.alert_transition, {"verb": "resolve"}, name="resolve"),
    path("rules/", views.rule_index, name="rules"),
    path("rules/new/", views.rule_edit, name="rule_new"),
    path("rules/sigma/", views.sigma_upload, name="sigma_import"),
    path("rules/<int:pk>/", views.rule_detail, name="rule_detail"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", views.rule_remove, name="rule_delete"),
    path("silences/", views.silence_index, name="silences"),
    path("silences/new/", views.silence_new, name="silence_new"),
    path("silences/<int:pk>/end/", views.silence_end, name="silence_end"),
    path("channels/", views.channel_index, name="channels"),
    path("channels/new/", views.channel_edit, name="channel_new"),
    path("channels/<int:pk>/edit/", views.channel_edit, name="channel_edit"),
    path("channels/<int:pk>/delete/", views.channel_remove, name="channel_delete"),
    path("deliveries/<int:pk>/replay/", views.delivery_replay, name="delivery_replay"),
    path("channels/<int:pk>/test/", views.channel_send_test, name="channel_test"),
]
