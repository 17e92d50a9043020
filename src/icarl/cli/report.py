"""``icarl report RUN_DIR``: rebuild the figures and report.html from results.json (or the
aggregate of a ``--seeds`` folder from its seed folders)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import SEED_MAX
from ..experiment import aggregate, report
from ..experiment.plots import parse_formats

HELP = "rebuild figures and report.html of a run, compare or --seeds folder"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run folder (results.json), compare folder or --seeds folder"
    )
    p.add_argument(
        "--figure-format",
        metavar="FORMATS",
        default="png",
        help="figure files to write, comma-separated from png, svg, pdf (default: png)",
    )


def main(args: argparse.Namespace) -> int:
    formats = parse_formats(args.figure_format)
    run_dir = Path(args.run_dir)
    seeds = _seeds(run_dir)
    if seeds:
        for seed in seeds:
            report.build(run_dir / aggregate.seed_folder(seed), formats)
        aggregate.build(run_dir, seeds, formats)
        print(f"report: {run_dir / 'aggregate.html'}")
        return 0
    page = report.build(run_dir, formats)
    print(f"report: {page}")
    for name in ("accuracy.png", "confusion.png", "accuracy_matrix.png"):
        if (page.parent / name).is_file():
            print(f"figure: {page.parent / name}")
    return 0


def _seeds(run_dir: Path) -> list[int]:
    """The seeds of a ``--seeds`` folder: from ``aggregate.json``, else its ``seed-S`` folders
    that hold results (a run whose seeds were resumed one by one)."""
    path = run_dir / aggregate.AGGREGATE_NAME
    if path.exists():
        seeds = report.read_json(path, {"seeds": list})["seeds"]
        bad = [s for s in seeds if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= SEED_MAX]
        if bad or not seeds or len(seeds) > 10_000:
            what = f"seed {bad[0]!r}" if bad else f"{len(seeds)} seeds"
            raise report.ReportError(
                f"{path} lists {what}, not the seeds of a --seeds run; delete it and run icarl report "
                "again (it is rebuilt from the seed folders)"
            )
        return [int(s) for s in seeds]
    if (run_dir / "results.json").exists() or (run_dir / "compare.json").exists():
        return []
    found = [p.name[len("seed-") :] for p in run_dir.glob("seed-*") if p.is_dir()]
    return sorted(int(s) for s in found if s.lstrip("-").isdigit())
