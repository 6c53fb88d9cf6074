"""The errors a user's input can cause, in one small hierarchy.

Each is a :class:`NanoDetError`: the command line prints it as one line that names the file
or key and the problem, without a traceback. Any other exception (a plain ``ValueError`` from
a bug included) is a bug and keeps its traceback. The second base class says what kind of
built-in error it also is, so ``except ValueError`` in user code keeps working.
"""


class NanoDetError(Exception):
    """A problem with the user's input that the message fully explains."""


class ConfigError(NanoDetError, ValueError):
    """A configuration key or value is invalid; the message names the key path."""


class UsageError(NanoDetError, ValueError):
    """A command-line option or API argument is invalid; the message names it."""


class DataError(NanoDetError, ValueError):
    """A dataset, annotation or image cannot be used; the message names the file."""


class CheckpointError(NanoDetError, ValueError):
    """A weights or checkpoint file cannot be read or does not fit; the message names it."""


class ExportError(NanoDetError, ValueError):
    """An export cannot be done or failed its check; the message says what to do."""


class TrainingError(NanoDetError, RuntimeError):
    """Training cannot go on (bad data, non-finite loss); the message says why and where."""


class FileMissingError(NanoDetError, FileNotFoundError):
    """A file or folder the user named does not exist (or holds nothing usable); the message
    names it. Also a ``FileNotFoundError``, so code that catches that keeps working."""


class MissingDependencyError(NanoDetError, ImportError):
    """An optional package is not installed; the message names the pip extra to install."""
