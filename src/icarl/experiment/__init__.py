"""The experiment: the run loop over a stream, one evaluation pass per step, metrics,
``results.json``, figures and the HTML report, and the dry-run estimate of the work."""

from .runner import finish, load_run_data, make_stream, run

__all__ = ["finish", "load_run_data", "make_stream", "run"]
