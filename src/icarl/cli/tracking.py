"""What ``run`` and ``compare`` make of the options that say what a run reports and logs
(the options themselves: :mod:`icarl.cli.args.tracking`)."""

from __future__ import annotations

import argparse

from ..config import ConfigError
from ..experiment.loggers import LogOptions, parse_log
from ..experiment.plots import parse_formats


def log_options(args: argparse.Namespace) -> LogOptions:
    """The checked ``--log`` / ``--verbose`` / ``--figure-format`` (one-line errors)."""
    formats = parse_formats(getattr(args, "figure_format", None))
    return LogOptions(parse_log(getattr(args, "log", None)), bool(getattr(args, "verbose", False)), formats)


def parse_seeds(spec: str | None) -> list[int]:
    """``--seeds 1993,1,2`` -> [1993, 1, 2]; distinct integers."""
    if spec is None:
        return []
    items = [s.strip() for s in spec.split(",") if s.strip()]
    try:
        seeds = [int(s) for s in items]
    except ValueError:
        raise ConfigError(
            f"--seeds {spec!r} is not a comma-separated list of integers, like 1993,1,2"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {spec!r}: give distinct integers, like 1993,1,2")
    return seeds
