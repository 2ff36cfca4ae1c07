"""Our figures beside the peers' (``../shared/peers``), as ratios with issue 11's goals.

The peers write ``$PEERS_OUT/results/<peer>.json`` (``run_all.sh``); each holds rows
``{"metric", "unit", "median", ...}``. A goal compares one of our figures with one
peer figure times a factor, both measured on the same machine, so the ratio means
something even when the machine is noisy. Peer metric names carry run sizes
("… 20 concurrent (median)"), so they are matched by prefix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Goal:
    label: str
    ours: str  # key into the figures dict built by bench/run.py
    peer: str  # peer file name without .json
    peer_metric: str  # prefix of the peer's metric name
    factor: float  # ours must be <= factor * peer (lower is better) or >= (higher is better)
    higher_is_better: bool = False


_SLEEP_P50 = "ctx.sleep(1s) overshoot, "
_SLEEP_MAX = "ctx.sleep(1s) overshoot (max"

GOALS = (
    Goal("per step, 10-step", "per_step_ms", "restate", "per-step overhead", 0.5),
    Goal("per step, 10-step", "per_step_ms", "floor", "pg INSERT+COMMIT latency (median", 3.0),
    Goal("1-step create -> complete", "one_step_ms", "dbos", "workflow with 1 step", 0.5),
    Goal(
        "1-step instances/s",
        "throughput",
        "dbos",
        "throughput: ",
        2.0,
        higher_is_better=True,
    ),
    Goal(
        "1-step instances/s",
        "throughput",
        "celery",
        "throughput ",
        1.0,
        higher_is_better=True,
    ),
    Goal("event -> resumed", "resume_ms", "dbos", "DBOS.send -> waiting recv resumed (median", 0.5),
    Goal("1 s sleep lateness p50", "sleep_p50_ms", "restate", _SLEEP_P50, 1.0),
    Goal("1 s sleep lateness max", "sleep_max_ms", "restate", _SLEEP_MAX, 2.0),
    Goal("burst sleep lateness p50", "burst_p50_ms", "restate", _SLEEP_P50, 1.0),
    Goal("burst sleep lateness max", "burst_max_ms", "restate", _SLEEP_MAX, 2.0),
)

# The one throughput row of each peer that is comparable to ours: DBOS started
# directly (not through its polling queue), Celery with results stored.
_PEER_METRIC_EXCLUDES = {"dbos": ("via Queue",), "celery": ("ignore_result", "...of which")}


def load(directory: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Rows of every peer result file in ``directory``, by peer name."""
    peers: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text())
        peers[path.stem] = data.get("rows", [])
    return peers


def peer_figure(peers: dict[str, list[dict[str, Any]]], peer: str, prefix: str) -> float | None:
    excluded = _PEER_METRIC_EXCLUDES.get(peer, ())
    for row in peers.get(peer, []):
        name = row["metric"].strip()
        if name.startswith(prefix) and not any(e in name for e in excluded):
            return float(row["median"])
    return None


def table(figures: dict[str, float], peers: dict[str, list[dict[str, Any]]]) -> list[str]:
    """One line per goal: our figure, the peer's, the ratio, and whether the goal is met."""
    header = f"{'goal':27} {'ours':>9} {'peer':>18} {'ratio':>7} {'goal':>8}  met"
    lines = [header, "-" * len(header)]
    for goal in GOALS:
        ours = figures.get(goal.ours)
        theirs = peer_figure(peers, goal.peer, goal.peer_metric)
        if ours is None or theirs is None or theirs == 0:
            missing = "our figure" if ours is None else f"{goal.peer} result"
            lines.append(f"{goal.label:27} {'':>9} {goal.peer:>18} {'':>7} {'':>8}  - ({missing})")
            continue
        ratio = ours / theirs
        sign = ">=" if goal.higher_is_better else "<="
        met = ratio >= goal.factor if goal.higher_is_better else ratio <= goal.factor
        lines.append(
            f"{goal.label:27} {ours:>9.2f} {goal.peer + f' {theirs:.2f}':>18} {ratio:>7.2f} "
            f"{sign + f' {goal.factor:g}':>8}  {'yes' if met else 'NO'}"
        )
    return lines
