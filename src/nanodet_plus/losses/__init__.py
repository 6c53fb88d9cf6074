"""Training losses of NanoDet-Plus: QFL, DFL, GIoU and the criterion that combines them."""

from nanodet_plus.losses.criterion import NanoDetPlusCriterion
from nanodet_plus.losses.distribution_focal import distribution_focal_loss
from nanodet_plus.losses.giou import giou_loss
from nanodet_plus.losses.quality_focal import quality_focal_loss

__all__ = [
    "NanoDetPlusCriterion", "distribution_focal_loss", "giou_loss", "quality_focal_loss"
]
