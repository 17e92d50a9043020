"""Imported first by :mod:`icarl.cli`: the OpenMP wait policy must be in the environment
before torch is loaded (see :mod:`icarl.threads`)."""

from ..threads import prepare_environment

prepare_environment()
