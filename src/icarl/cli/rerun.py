"""``icarl rerun RUN_DIR``: repeat a finished run from its record and say, step by step,
whether the accuracies came out identical.

Everything comes from ``RUN_DIR/results.json``: the resolved configuration (method, seed,
class order, every learner setting), the thread policy and count (a ``--threads auto``
run's per-epoch counts are replayed in order), ``--deterministic``, and the data's
fingerprint, which the data found at ``data.path`` (or ``--data``) must match. On the same
machine type, torch version and thread count the repetition is bit for bit the same run;
elsewhere it is a new sample of the same experiment (docs/experiments.md, "What repeats").
Exit status 0 when every accuracy is identical, 1 when some differ, 2 for bad input.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import threads
from ..algorithm import classifiers
from ..config import ConfigError, RunConfig, from_table
from ..experiment.report import read_results
from ..nets.adapt import check_consent
from ..version import versions
from .run import new_run


def recorded_config(results: dict[str, Any], args: argparse.Namespace) -> RunConfig:
    """The run's resolved configuration, with ``--data`` and ``--quiet`` applied."""
    cfg: RunConfig = from_table(RunConfig, results["config"], "").check()
    spec = cfg.learner.backbone
    if spec.startswith("object:"):
        raise ConfigError(
            f"the run trained a backbone passed as a Python object ({spec}); repeat it from Python "
            "with the same module (icarl.ICaRL(backbone=...))"
        )
    check_consent(spec, "the run's results.json", args.trust_backbone)  # an import path needs consent
    if args.data:
        cfg = replace(cfg, data=replace(cfg.data, path=args.data))
    if args.quiet:
        cfg = replace(cfg, learner=replace(cfg.learner, progress=False))
    return cfg


def recorded_threads(results: dict[str, Any]) -> None:
    """Use the run's thread count, or replay an ``auto`` run's per-epoch counts."""
    env = results.get("environment", {})
    if env.get("threads_policy") in (threads.AUTO, "replay"):
        counts = [e.get("threads") for s in results["steps"] for e in s.get("epochs", [])]
        if counts and all(isinstance(n, int) and n > 0 for n in counts):
            threads.apply(schedule=counts)
            return
    if isinstance(env.get("threads"), int) and env["threads"] > 0:
        threads.apply(env["threads"])


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One table line per step (accuracy of each classifier, before and now), marked."""
    lines = ["step  classifier  recorded   rerun     identical"]
    for a, b in zip(old["steps"], new["steps"], strict=False):
        for k in classifiers.names():
            x, y = a["accuracy"].get(k), b["accuracy"].get(k)
            if x is None and y is None:
                continue
            same = "yes" if x == y else "NO"
            lines.append(f"{a['step'] + 1:>4}  {k:<10}  {_pct(x)}  {_pct(y)}  {same}")
    if len(old["steps"]) != len(new["steps"]):
        lines.append(f"steps: recorded {len(old['steps'])}, rerun {len(new['steps'])}")
    return lines


def _pct(v: float | None) -> str:
    return "       -" if v is None else f"{100 * v:8.4f}"


def main(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not (run_dir / "results.json").is_file():
        raise ConfigError(f"{run_dir} has no results.json; rerun takes the folder of a finished run")
    old = read_results(run_dir / "results.json")
    cfg = recorded_config(old, args)
    out = Path(args.out) if args.out else run_dir.with_name(run_dir.name + "-rerun")
    if args.threads is None:
        recorded_threads(old)
    if old.get("versions") and old["versions"] != versions():
        print(
            f"note: recorded versions {old['versions']} differ from these {versions()}; "
            "results may differ for that reason alone"
        )
    env = old.get("environment", {})
    opts = argparse.Namespace(
        force=args.force,
        save=None,
        no_exemplars=False,
        deterministic=bool(env.get("deterministic")),
        log=None,
        verbose=False,
        figure_format="png",
    )
    new = new_run(cfg, out, opts, fingerprint=old.get("data_fingerprint"))
    lines = differences(old, new)
    print("\n".join(lines))
    same = all(not line.endswith("NO") for line in lines[1:]) and len(old["steps"]) == len(new["steps"])
    print("identical: every accuracy of every step" if same else "DIFFERENT: see the rows marked NO")
    return 0 if same else 1
