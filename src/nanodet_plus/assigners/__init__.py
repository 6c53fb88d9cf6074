"""Label assignment: which prior learns which ground-truth box."""

from nanodet_plus.assigners.atss import ATSSAssigner
from nanodet_plus.assigners.dsl import Assignment, DynamicSoftLabelAssigner
from nanodet_plus.assigners.targets import AssignTargets, build_targets

__all__ = [
    "ATSSAssigner", "AssignTargets", "Assignment", "DynamicSoftLabelAssigner", "build_targets",
]
