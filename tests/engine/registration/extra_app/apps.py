from django.apps import AppConfig


class ExtraAppConfig(AppConfig):
    name = "tests.engine.registration.extra_app"
    label = "engine_tests_extra_app"
