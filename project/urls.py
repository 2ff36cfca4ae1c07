from django.contrib import admin
from django.urls import include, path

from project.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("client/v4/", api.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("workflows_app.console.urls")),
]
