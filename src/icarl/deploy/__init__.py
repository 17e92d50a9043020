"""A deployed model: loaded as the method that saved it, taught new classes by name,
asked for top-k predictions with scores."""

from .learn import DeployError, StepReport, learn_step, plan_step, scores, top_k
from .model import from_state, load, name_run_steps

__all__ = [
    "DeployError",
    "StepReport",
    "from_state",
    "learn_step",
    "load",
    "name_run_steps",
    "plan_step",
    "scores",
    "top_k",
]
