"""docs/first-hour.md as the first-hour test runs it: the commands of each numbered step, as written."""

import json
import re
import subprocess

from tests.polling import wait_for
from tests.stack.stack import REPO, Stack

GUIDE = REPO / "docs" / "first-hour.md"
GUIDE_URL = "http://127.0.0.1:8080"


def guide_steps() -> dict[int, list[str]]:
    """Step number -> its shell commands: continuation lines joined, comments left out."""
    steps = {}
    for number, body in re.findall(r"^## (\d+)\. [^\n]*\n(.*?)(?=^## |\Z)", GUIDE.read_text(), re.M | re.S):
        commands = []
        for block in re.findall(r"```sh\n(.*?)```", body, re.S):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                command = re.split(r"\s{2,}# ", line, maxsplit=1)[0].strip()
                if command and not command.startswith("#"):
                    commands.append(command)
        steps[int(number)] = commands
    return steps


# A line that only sets a shell variable from a command's output: TOKEN=$(make -s token USER=admin)
ASSIGNMENT = re.compile(r"([A-Z][A-Z0-9_]*)=(\$\(.*\))")


class GuideRunner:
    """Runs the guide's commands in the stack's checkout, as one reader's shell: variables a line sets
    are there for the next lines, and <city_id>, <task_id> and <run_id> are filled from the answers of
    the commands before them, as a reader copies an id from one answer to the next line."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.values: dict[str, object] = {}
        self.shell_vars: dict[str, str] = {}

    def run(self, command: str, *, input: str = "", check: bool = True) -> subprocess.CompletedProcess:
        text = command.replace(GUIDE_URL, self.stack.url)
        for name, value in self.values.items():
            text = text.replace(f"<{name}>", str(value))
        assert not re.search(r"<\w+_id>", text), f"nothing to put in {text}"
        if assignment := ASSIGNMENT.fullmatch(text):
            name = assignment[1]
            text = f'{text}; printf %s "${name}"'
        result = self.stack.run(text, input=input, check=check, shell_vars=self.shell_vars)
        if assignment:
            self.shell_vars[name] = result.stdout
        self._learn(command, result.stdout)
        return result

    def json(self, command: str):
        return json.loads(self.run(command).stdout)

    def poll(self, command: str, done, *, timeout: float = 180):
        """Re-run a status command until its answer is final, as a reader would."""

        def final():
            body = self.json(command)
            return body if done(body) else None

        return wait_for(final, timeout=timeout, interval=1, what=command)

    def _learn(self, command: str, out: str) -> None:
        try:
            body = json.loads(out)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        self.values.update({key: body[key] for key in ("task_id", "run_id") if key in body})
        if "id" in body and re.search(r"-X POST \S+/api/cities/ ", command):
            self.values["city_id"] = body["id"]
