"""Build the assigner that ``model.assigner`` names (names are checked when a config loads)."""

from __future__ import annotations

from nanodet_plus.assigners.atss import ATSSAssigner
from nanodet_plus.assigners.base import Assigner
from nanodet_plus.assigners.dsl import DynamicSoftLabelAssigner
from nanodet_plus.config.schema import AssignerConfig


def build_assigner(config: AssignerConfig) -> Assigner:
    """The DSLA of NanoDet-Plus, or the ATSS of the original NanoDet for the ablation."""
    if config.name == "DynamicSoftLabelAssigner":
        return DynamicSoftLabelAssigner(
            topk=config.topk,
            iou_factor=config.iou_factor,
            distance_cost=config.distance_cost,
            distance_alpha=config.distance_alpha,
            distance_beta=config.distance_beta,
        )
    if config.name == "ATSSAssigner":
        return ATSSAssigner(config.atss_topk, config.atss_anchor_scale)
    raise ValueError(f"no assigner named {config.name!r}")
