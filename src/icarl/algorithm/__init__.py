"""The paper: herding (Alg. 4), exemplar memory (Alg. 5), class means and NME (Alg. 1),
the losses of Alg. 3, and the learner that runs Alg. 2 in the paper's order."""

from .learner import ICaRL

__all__ = ["ICaRL"]
