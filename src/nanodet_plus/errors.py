"""Base class of every error caused by the user's input (files, configs, options).

The command line prints these as one line naming the file and the problem, without a
traceback; anything else is a bug and keeps its traceback.
"""


class NanoDetError(Exception):
    """A problem with the user's input that the message fully explains."""
