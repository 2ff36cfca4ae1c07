from django.contrib import admin
from django.urls import include, path

from project.api import api
from workflows_app.console.signin import ThrottledAdminAuthenticationForm, ThrottledLoginView

admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("client/v4/", api.urls),
    # Sign-in with throttled failures; the rest of Django's auth views as they are.
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("workflows_app.console.urls")),
]
