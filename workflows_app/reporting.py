"""What Django's error pages and reports may show (``DEFAULT_EXCEPTION_REPORTER_FILTER``).

Django hides settings and request.META entries whose names look secret (KEY,
TOKEN, PASS ...). Connection URLs carry passwords too, and under ``runserver``
request.META holds the whole process environment: ``DATABASE_URL``,
``CELERY_BROKER_URL`` and ``DJANGO_CACHE_URL`` are hidden as well, should a
DEBUG error page ever be shown.
"""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class ReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|_URL$|DSN|DATABASES|BROKER",
        flags=re.IGNORECASE,
    )
