"""Pure tensor functions: centre priors, box conversions, IoU, NMS."""
