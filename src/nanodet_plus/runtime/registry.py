"""Which backend opens which model file: a registry of factories keyed by format name.

Built-in formats are resolved lazily: the first time a format is needed, the module
``nanodet_plus.runtime.<name>_backend`` is imported. That module either calls
:func:`register_backend` at import time or exposes ``create_backend(path, **options)``.
Heavy runtimes (onnxruntime, openvino, ncnn, MNN) are therefore imported only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nanodet_plus.errors import FileMissingError, UsageError
from nanodet_plus.runtime.base import Backend

BackendFactory = Callable[..., Backend]

# format name -> file suffixes it opens (lower case, with the dot)
BUILTIN_FORMATS: dict[str, tuple[str, ...]] = {
    "torch": (".pth", ".ckpt", ".pt"),
    "torchscript": (".torchscript", ".ts"),
    "onnx": (".onnx",),
    "openvino": (".xml",),
    "ncnn": (".param",),
    "mnn": (".mnn",),
}


@dataclass
class BackendEntry:
    """One registered format: its name, the suffixes it opens and its factory."""

    name: str
    suffixes: tuple[str, ...]
    factory: BackendFactory | None = None


_REGISTRY: dict[str, BackendEntry] = {
    name: BackendEntry(name, suffixes) for name, suffixes in BUILTIN_FORMATS.items()
}


def register_backend(name: str, suffixes: Sequence[str], factory: BackendFactory) -> None:
    """Make ``factory(path, **options) -> Backend`` open files of format ``name``.

    ``options`` always may contain ``device``; factories should accept and ignore unknown keys.
    A built-in format's module may register its own name once; any other second registration
    of a name is a programming error (``ValueError``).
    """
    existing = _REGISTRY.get(name)
    if existing is not None and existing.factory is not None:
        raise ValueError(f"backend {name!r} is already registered")
    normalised = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes)
    _REGISTRY[name] = BackendEntry(name, normalised, factory)


def registered_formats() -> dict[str, tuple[str, ...]]:
    """Format name -> suffixes, for help texts and error messages."""
    return {name: entry.suffixes for name, entry in _REGISTRY.items()}


def format_for_path(path: str | Path) -> str:
    """The format name whose suffixes match ``path`` (``.onnx`` -> ``onnx``)."""
    suffix = Path(path).suffix.lower()
    for name, entry in _REGISTRY.items():
        if suffix in entry.suffixes:
            return name
    if suffix in (".yaml", ".yml"):
        raise UsageError(f"{path}: a YAML config, not a checkpoint or model file; give the "
                         "weights (.pth/.ckpt or an exported model) and the config separately")
    known = ", ".join(sorted({s for e in _REGISTRY.values() for s in e.suffixes}))
    raise UsageError(f"{path}: unknown model format {suffix or '(no suffix)'!r}; known: {known}")


def get_factory(name: str) -> BackendFactory:
    """The factory of format ``name``, importing its built-in module on first use."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise UsageError(f"unknown backend {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    if entry.factory is None:
        module_name = f"nanodet_plus.runtime.{name}_backend"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                raise UsageError(f"backend {name!r} is not available in this install") from None
            raise
        entry = _REGISTRY[name]
        if entry.factory is None:
            factory = getattr(module, "create_backend", None)
            if factory is None:
                raise ValueError(f"{module_name} registers no backend and has no create_backend")
            entry.factory = factory
    return entry.factory


def model_file(path: str | Path) -> Path:
    """``path`` as a Path, checked to be an existing file (one-line errors otherwise)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileMissingError(f"{path}: model file not found")
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a model file")
    return path


def load_backend(path: str | Path, format: str | None = None, **options: Any) -> Backend:
    """Open the model file at ``path`` with the backend of ``format`` (default: by suffix)."""
    path = model_file(path)
    return get_factory(format or format_for_path(path))(path, **options)
