from django.urls import path

from apps.retention import api

urlpatterns = [
    path("retention/policies", api.policies, name="retention-policies"),
    path("retention/policies/<int:pk>", api.policy_detail, name="retention-policy"),
    path("retention/lock", api.lock, name="retention-lock"),
    path("retention/unlock", api.unlock, name="retention-unlock"),
]
