# ExampleOrder, moved here from workflows_app (its 0011 removed it from that
# app's state). State only: the table workflows_app_exampleorder was created by
# workflows_app's 0002 and keeps its rows.

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("workflows_app", "0011_exampleorder_to_workflows_examples"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ExampleOrder",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("order_id", models.CharField(max_length=100, unique=True)),
                        ("status", models.CharField(max_length=32)),
                        ("total_cents", models.PositiveIntegerField(default=0)),
                        ("payment_id", models.CharField(blank=True, default="", max_length=100)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        "db_table": "workflows_app_exampleorder",
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
