from django.urls import path

from apps.rbac import views

app_name = "access"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("users/", views.user_list, name="users"),
    path("users/create/", views.user_create, name="user_create"),
    path("users/<int:pk>/deactivate/", views.user_deactivate, name="user_deactivate"),
    path("users/<int:pk>/reactivate/", views.user_reactivate, name="user_reactivate"),
    path("roles/", views.role_list, name="roles"),
    path("assignments/", views.assignment_list, name="assignments"),
    path("assignments/create/", views.assignment_create, name="assignment_create"),
    path("assignments/<int:pk>/remove/", views.assignment_remove, name="assignment_remove"),
    path("teams/", views.team_list, name="teams"),
    path("teams/create/", views.team_create, name="team_create"),
    path("teams/<int:pk>/members/", views.team_member_add, name="team_member_add"),
    path("teams/<int:pk>/members/<int:user_pk>/remove/", views.team_member_remove, name="team_member_remove"),
    path("tokens/", views.token_list, name="tokens"),
    path("tokens/issue/", views.token_issue, name="token_issue"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("auditor-links/", views.auditor_link_list, name="auditor_links"),
    path("auditor-links/create/", views.auditor_link_create, name="auditor_link_create"),
    path("auditor-links/<int:pk>/revoke/", views.auditor_link_revoke, name="auditor_link_revoke"),
]
