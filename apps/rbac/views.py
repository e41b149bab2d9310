"""Sign-in and sign-out pages."""
from django.contrib.auth import views as auth_views
from django.views.decorators.http import require_POST

from apps.rbac.permissions import public

login = public(auth_views.LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=True))
logout = public(require_POST(auth_views.LogoutView.as_view()))
