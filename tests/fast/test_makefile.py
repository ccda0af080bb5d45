"""`make help` is the Makefile's index: every target a user may type is listed, with its line."""

import re
import shutil
import subprocess

from tests.stack.stack import REPO


def test_make_help_lists_every_target():
    targets = set(re.findall(r"^([a-zA-Z0-9][a-zA-Z0-9_-]*):", (REPO / "Makefile").read_text(), re.M))
    help_ = ["make", "--no-print-directory", "help"]
    listed = subprocess.run(help_, cwd=REPO, capture_output=True, text=True, check=True).stdout
    shown = set(re.findall(r"^\s+(?:\x1b\[36m)?([a-zA-Z0-9_-]+)", listed, re.M))
    assert targets and sorted(targets - shown) == []


# The four secrets .env.example marks REQUIRED, with the files `make secrets` writes for them.
SECRETS = {
    "DJANGO_SECRET_KEY": "django_secret_key",
    "POSTGRES_PASSWORD": "postgres_password",
    "RABBITMQ_PASSWORD": "rabbitmq_password",
    "FLOWER_PASSWORD": "flower_password",
}


def make_in_copy(folder, target, env_text):
    """Run `make TARGET` on a copy of the Makefile in FOLDER, with .env holding ENV_TEXT."""
    shutil.copy(REPO / "Makefile", folder / "Makefile")
    (folder / ".env").write_text(env_text)
    # PYTHON= spares make the search for Python (scripts/ is not in the copy; neither target needs it).
    command = ["make", "--no-print-directory", "PYTHON=", target]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)


def test_check_env_refuses_the_placeholders_of_env_example(tmp_path):
    # A .env copied from .env.example unchanged must not start: each REQUIRED secret is named.
    done = make_in_copy(tmp_path, "check-env", (REPO / ".env.example").read_text())
    assert done.returncode != 0
    assert all(name in done.stdout for name in SECRETS), done.stdout + done.stderr


def test_check_env_names_only_the_secrets_still_unset(tmp_path):
    text = (REPO / ".env.example").read_text()
    text = text.replace("DJANGO_SECRET_KEY=change-me", "DJANGO_SECRET_KEY=s3cret").replace(
        "FLOWER_PASSWORD=change-me", "FLOWER_PASSWORD="
    )
    done = make_in_copy(tmp_path, "check-env", text)
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY" not in done.stdout
    assert {"POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "FLOWER_PASSWORD"} <= set(done.stdout.split())


def test_secrets_refuses_placeholders_and_writes_no_file(tmp_path):
    # `make secrets` on its own refuses too: no random value ever stands in for a placeholder.
    done = make_in_copy(tmp_path, "secrets", (REPO / ".env.example").read_text())
    assert done.returncode != 0
    assert not (tmp_path / "secrets").exists() or not list((tmp_path / "secrets").iterdir())


def test_secrets_copies_each_value_env_sets_into_its_file(tmp_path):
    text = "".join(f"{name}=value-of-{name}\n" for name in SECRETS)
    done = make_in_copy(tmp_path, "secrets", text)
    assert done.returncode == 0, done.stdout + done.stderr
    for name, file in SECRETS.items():
        assert (tmp_path / "secrets" / file).read_text() == f"value-of-{name}\n"


def test_check_env_accepts_a_secret_already_in_its_file(tmp_path):
    # After `make secrets`, .env's copies may be blanked or rotated out: the files are what is mounted.
    (tmp_path / "secrets").mkdir()
    for file in SECRETS.values():
        (tmp_path / "secrets" / file).write_text("kept\n")
    done = make_in_copy(tmp_path, "check-env", (REPO / ".env.example").read_text())
    assert done.returncode == 0, done.stdout + done.stderr
