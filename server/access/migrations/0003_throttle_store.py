# The throttles' store (access/budgets.py): UNLOGGED on PostgreSQL, a plain table elsewhere.

from django.db import migrations, models


def unlogged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE access_throttlebudget SET UNLOGGED")


class Migration(migrations.Migration):
    dependencies = [("access", "0002_apitoken_password_mark")]

    operations = [
        migrations.CreateModel(
            name="ThrottleBudget",
            fields=[
                ("key", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("window_start", models.BigIntegerField()),
                ("window_end", models.BigIntegerField(db_index=True)),
                ("hits", models.IntegerField()),
            ],
        ),
        migrations.RunPython(unlogged, migrations.RunPython.noop, elidable=False),
    ]
