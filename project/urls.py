from django.contrib import admin
from django.urls import include, path

from workflows_app.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("client/v4/", api.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("workflows_app.console_urls")),
]
