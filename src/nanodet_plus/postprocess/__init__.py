"""Decoding of raw head outputs and the one post-processing every runtime shares."""

from nanodet_plus.postprocess.decode import decode
from nanodet_plus.postprocess.postprocess import postprocess

__all__ = ["decode", "postprocess"]
