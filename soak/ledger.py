"""Reading the ledger the step bodies append to (see ``soak/workflows.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Line:
    instance: str
    step: str
    attempt: int
    what: str  # "enter" | "exit"
    pid: int
    t: float  # host clock, seconds since the epoch
    proc: str  # role.incarnation, e.g. "w1.2"

    def __str__(self) -> str:
        return (
            f"{self.instance} {self.step} {self.attempt} {self.what} {self.pid} "
            f"{self.t:.3f} {self.proc}"
        )


def read(path: Path) -> list[Line]:
    if not path.exists():
        return []
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        parts = raw.split()
        if len(parts) != 7:
            continue  # never expected: each line is one O_APPEND write
        instance, step, attempt, what, pid, t, proc = parts
        lines.append(Line(instance, step, int(attempt), what, int(pid), float(t), proc))
    return lines


def open_bodies(lines: list[Line], proc: str, *, at: float | None = None) -> list[Line]:
    """Bodies the process ``proc`` (a tag) had entered and not exited (by ``at``)."""
    entered: dict[tuple[str, str, int, int], Line] = {}
    for line in lines:
        if line.proc != proc or (at is not None and line.t > at):
            continue
        key = (line.instance, line.step, line.attempt, line.pid)
        if line.what == "enter":
            entered[key] = line
        else:
            entered.pop(key, None)
    return list(entered.values())
