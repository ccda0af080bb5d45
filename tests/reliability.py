"""The figures of each fault test, written where `make test-faults` turns them into the table of
docs/reliability.md (python -m tests.reliability)."""

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "build" / "reliability"
REPORT = REPO / "docs" / "reliability.md"
START, END = "<!-- fault-table:start -->", "<!-- fault-table:end -->"


@dataclass
class FaultFigures:
    order: int  # the fault's number in the table
    fault: str
    test: str
    sent: int
    completed: int
    redelivered: int
    failed_with_reason: int
    lost: int
    duplicates: int
    notes: str = ""


def record(figures: FaultFigures) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{figures.test}.json").write_text(json.dumps(asdict(figures), indent=1))


def table() -> str:
    rows = sorted(
        (FaultFigures(**json.loads(p.read_text())) for p in RESULTS.glob("*.json")),
        key=lambda f: (f.order, f.test),
    )
    lines = [
        "| # | Fault | Sent | Completed | Redelivered | Failed, with reason | Lost | Duplicates | Measured |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for f in rows:
        lines.append(
            f"| {f.order} | {f.fault} (`{f.test}`) | {f.sent} | {f.completed} | {f.redelivered} | "
            f"{f.failed_with_reason} | {f.lost} | {f.duplicates} | {f.notes} |"
        )
    return "\n".join(lines)


def main() -> int:
    if not any(RESULTS.glob("*.json")):
        print(f"No figures in {RESULTS}: run `make test-faults` first.", file=sys.stderr)
        return 1
    text = REPORT.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    REPORT.write_text(f"{head}{START}\n{table()}\n{END}{tail}")
    print(f"Updated the fault table of {REPORT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
