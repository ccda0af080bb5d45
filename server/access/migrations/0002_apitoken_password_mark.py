import hashlib

from django.db import migrations, models


def mark_existing_tokens(apps, schema_editor):
    # Tokens issued before this migration are tied to their user's password as it is now, so they
    # keep working until it changes (or they expire).
    ApiToken = apps.get_model("access", "ApiToken")
    for token in ApiToken.objects.select_related("user"):
        token.password_mark = hashlib.sha256(token.user.password.encode()).hexdigest()
        token.save(update_fields=["password_mark"])


class Migration(migrations.Migration):
    dependencies = [("access", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="password_mark",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.RunPython(mark_existing_tokens, migrations.RunPython.noop),
    ]
