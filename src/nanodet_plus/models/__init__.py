"""NanoDet-Plus networks: build with :func:`build_model`, load with :func:`load_weights`."""

from nanodet_plus.models.detector import InferenceModel, NanoDetPlus, optimize_for_inference
from nanodet_plus.models.factory import build_model
from nanodet_plus.models.fuse import fuse_conv_bn
from nanodet_plus.models.weights import LoadReport, load_weights

__all__ = [
    "InferenceModel",
    "LoadReport",
    "NanoDetPlus",
    "build_model",
    "fuse_conv_bn",
    "load_weights",
    "optimize_for_inference",
]
