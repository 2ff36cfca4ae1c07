"""The seed's Free and Paid plans (editable afterwards by a superuser).

The values are a frozen copy, not an import of ``billing.plans.DEFAULT_PLANS``:
a migration must write the same rows forever, whatever the live defaults become.
"""

from decimal import Decimal

from django.db import migrations

PLANS = {
    "free": {
        "cpu_ms_per_step_limit": 10,
        "daily_invocations_limit": 100_000,
        "storage_bytes_limit": 1_000_000_000,
        "included_cpu_ms": 0,
        "included_invocations": 0,
        "included_storage_gb": Decimal("1"),
        "price_per_million_cpu_ms": Decimal("0"),
        "price_per_million_invocations": Decimal("0"),
        "price_per_gb_month": Decimal("0"),
        "retention_days": 3,
        "max_retention_days": 3,
    },
    "paid": {
        "cpu_ms_per_step_limit": 30_000,
        "daily_invocations_limit": None,
        "storage_bytes_limit": None,
        "included_cpu_ms": 30_000_000,
        "included_invocations": 10_000_000,
        "included_storage_gb": Decimal("1"),
        "price_per_million_cpu_ms": Decimal("0.02"),
        "price_per_million_invocations": Decimal("0.30"),
        "price_per_gb_month": Decimal("0.20"),
        "retention_days": 30,
        "max_retention_days": 30,
    },
}


def create_plans(apps, schema_editor):
    plan = apps.get_model("workflows_app", "Plan")
    for name, values in PLANS.items():
        plan.objects.get_or_create(name=name, defaults=values)


class Migration(migrations.Migration):
    dependencies = [("workflows_app", "0007_metering")]

    operations = [migrations.RunPython(create_plans, migrations.RunPython.noop)]
