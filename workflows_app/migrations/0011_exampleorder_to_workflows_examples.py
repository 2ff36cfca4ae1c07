# ExampleOrder moved to the optional workflows_examples app. The model leaves
# this app's state only: the table (workflows_app_exampleorder) and its rows
# stay, and workflows_examples' 0001 takes the model over on the same table.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('workflows_app', '0010_retention_settings'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='ExampleOrder')],
            database_operations=[],
        ),
    ]
