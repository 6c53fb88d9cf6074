"""Label assignment: which prior learns which ground-truth box."""

from nanodet_plus.assigners.atss import ATSSAssigner
from nanodet_plus.assigners.base import Assigner, Assignment
from nanodet_plus.assigners.dsl import DynamicSoftLabelAssigner
from nanodet_plus.assigners.targets import AssignTargets, build_targets

__all__ = [
    "ATSSAssigner", "AssignTargets", "Assigner", "Assignment", "DynamicSoftLabelAssigner",
    "build_targets",
]
