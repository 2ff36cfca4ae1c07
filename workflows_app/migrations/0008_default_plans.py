"""The seed's Free and Paid plans (editable afterwards by a superuser)."""

from django.db import migrations

from workflows_app.billing.plans import DEFAULT_PLANS


def create_plans(apps, schema_editor):
    plan = apps.get_model("workflows_app", "Plan")
    for name, values in DEFAULT_PLANS.items():
        plan.objects.get_or_create(name=name, defaults=values)


class Migration(migrations.Migration):
    dependencies = [("workflows_app", "0007_metering")]

    operations = [migrations.RunPython(create_plans, migrations.RunPython.noop)]
