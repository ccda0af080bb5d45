"""`make help` is the Makefile's index: every target a user may type is listed, with its line."""

import re
import subprocess

from tests.stack.stack import REPO


def test_make_help_lists_every_target():
    targets = set(re.findall(r"^([a-zA-Z0-9][a-zA-Z0-9_-]*):", (REPO / "Makefile").read_text(), re.M))
    help_ = ["make", "--no-print-directory", "help"]
    listed = subprocess.run(help_, cwd=REPO, capture_output=True, text=True, check=True).stdout
    shown = set(re.findall(r"^\s+(?:\x1b\[36m)?([a-zA-Z0-9_-]+)", listed, re.M))
    assert targets and sorted(targets - shown) == []
