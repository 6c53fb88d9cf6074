"""Inference runtimes behind one ``Detector``: each backend turns a normalised NCHW batch into
the raw ``[B, N, C + 4 * (R + 1)]`` tensor, and one shared post-processing does the rest."""
