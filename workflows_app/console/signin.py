"""Sign-in with throttled failures (``workflows_app.throttle``).

After too many failed sign-ins from one address or for one username, the form
says when to try again and is answered with 429 + Retry-After, without
checking the password: a correct guess made while throttled does not sign in.
The admin site's sign-in form counts against the same limits (``project/urls.py``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpResponse

from workflows_app import throttle


class ThrottledAuthenticationForm(AuthenticationForm):
    retry_after: int | None = None

    def clean(self) -> dict[str, Any]:
        if self.request is None:  # LoginView always passes it
            return super().clean()
        found = throttle.subjects(
            self.request, kind="signin", name=str(self.data.get("username", ""))
        )
        self.retry_after = throttle.retry_after(found)
        if self.retry_after is not None:
            raise forms.ValidationError(
                "Too many failed sign-in attempts. Try again in %(seconds)d seconds.",
                code="throttled",
                params={"seconds": self.retry_after},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.record_failure(found)
            raise
        throttle.reset(found)
        return cleaned


class ThrottledAdminAuthenticationForm(ThrottledAuthenticationForm, AdminAuthenticationForm):
    """The admin site's sign-in (staff only), counted against the same limits."""


class ThrottledLoginView(LoginView):
    form_class = ThrottledAuthenticationForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        wait = getattr(form, "retry_after", None)
        if wait is not None:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response
