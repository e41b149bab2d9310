from django.urls import path

from apps.retention import views

app_name = "retention"

urlpatterns = [
    path("", views.retention_index, name="index"),
    path("archive/", views.archive_search, name="archive"),
    path("policies/new/", views.policy_edit, name="policy_new"),
    path("policies/<int:pk>/edit/", views.policy_edit, name="policy_edit"),
    path("policies/<int:pk>/delete/", views.policy_remove, name="policy_delete"),
    path("holds/new/", views.hold_new, name="hold_new"),
    path("holds/<int:pk>/release/", views.hold_release, name="hold_release"),
    path("lock/", views.lock, name="lock"),
    path("unlock/", views.unlock, name="unlock"),
    path("run/", views.run_now, name="run"),
    path("segments/<int:pk>/restore/", views.restore, name="restore"),
]
