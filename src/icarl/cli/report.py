"""``icarl report RUN_DIR``: rebuild the figures and report.html from results.json (or the
aggregate of a ``--seeds`` folder from its seed folders)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import ConfigError
from ..experiment import aggregate, grid, report
from ..experiment.plots import parse_formats
from . import grid as grid_cli


def main(args: argparse.Namespace) -> int:
    formats = parse_formats(args.figure_format)
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} does not exist or is not a folder; pass a run, compare or grid folder")
    cells = _cells(run_dir)
    if cells:
        for cell in cells:
            if grid_cli.finished(run_dir / cell.folder):
                report.build(run_dir / cell.folder, formats)
        record = aggregate.build(run_dir, cells, formats)
        print(aggregate.format_table(aggregate.table_of(record)))
        if "ab" in record:
            print(aggregate.format_ab(record["ab"]["methods"]))
        if record["missing"]:
            print(f"not finished (left out): {', '.join(record['missing'])}")
        print(f"report: {run_dir / 'aggregate.html'}")
        return 0
    page = report.build(run_dir, formats)
    runs, _ = report.load_runs(run_dir)
    print(report.format_table(report.table_rows(runs)))
    print(f"report: {page}")
    for name in ("accuracy.png", "confusion.png", "accuracy_matrix.png", "loss.png"):
        if (page.parent / name).is_file():
            print(f"figure: {page.parent / name}")
    return 0


def _cells(run_dir: Path) -> list[grid.Cell]:
    """The cells of a grid folder: from ``grid.json``, else its ``seed-S`` / ``order-K``
    folders (under ``A`` and ``B`` for an A/B); none for a run or compare folder."""
    if (run_dir / grid.GRID_NAME).exists():  # a FIFO is named there, not read
        return grid.cells_of(grid.read_manifest(run_dir))
    if (run_dir / "results.json").exists() or (run_dir / "compare.json").exists():
        return []
    return grid.discover(run_dir)
