"""Build a :class:`Config` from a preset name, a YAML file, a dict or an existing config.

Unknown keys are errors with a close-match hint; values are type-checked and converted
(lists to tuples, ints to floats). Relative dataset paths resolve against the YAML file's folder.
``key=value`` overrides use ``yaml.safe_load`` for values (never ``eval``).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Union

import yaml

from nanodet_plus.config.schema import Config, DatasetConfig
from nanodet_plus.config.validation import validate
from nanodet_plus.errors import ConfigError
from nanodet_plus.utils.files import atomic_write_text

PRESET_DIR = Path(__file__).with_name("presets")


def list_presets() -> list[str]:
    """Names of the built-in presets, e.g. ``nanodet-plus-m_416``."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def _convert(value: Any, tp: Any, where: str) -> Any:
    optional, inner = _is_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: may not be null")
    tp = inner
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value) and isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return _from_dict(tp, value, where)
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}: {value!r}")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is list:
        (arg,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_convert(v, arg, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def _from_dict(cls: type, data: dict, where: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in hints:
            close = difflib.get_close_matches(str(key), names, n=1)
            known = ", ".join(names)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {known})"
            raise ConfigError(f"unknown config key '{path}'{hint}")
        kwargs[key] = _convert(value, hints[key], path)
    return cls(**kwargs)


def to_dict(config: Any) -> Any:
    """Plain YAML-friendly data (tuples become lists) from a config dataclass."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    return config


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# Leading bytes of files that get passed where a config belongs, for a message that says what
# the file is instead of a decoding error.
_BINARY_KINDS = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"RIFF", "a WebP image"),
    (b"PK\x03\x04", "a zip archive, e.g. PyTorch weights"),
    (b"\x80", "a pickle, e.g. PyTorch weights"),
)


def _binary_kind(head: bytes) -> str:
    for magic, kind in _BINARY_KINDS:
        if head.startswith(magic):
            return kind
    return "binary data"


def _read_yaml(path: Path) -> dict:
    """The mapping in a YAML config file; a ConfigError naming the file for anything else (an
    image, weights or other binary file, invalid YAML, a list or a scalar)."""
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a YAML config file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise ConfigError(f"{path}: not a YAML config ({_binary_kind(raw[:8])}, not text)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML ({where}{problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a YAML config (the top level is a {type(data).__name__}, "
                          "not a mapping of keys)")
    return data


def _preset_dict(name: str) -> dict:
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        close = difflib.get_close_matches(name, list_presets(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"unknown preset '{name}'{hint}; presets: {', '.join(list_presets())}"
        )
    data = _read_yaml(path)
    data.setdefault("preset", name)
    return data


def _resolve_dataset_paths(config: Config, base_dir: Path) -> None:
    for split in (config.data.train, config.data.val):
        if isinstance(split, DatasetConfig):
            for attr in ("img_path", "ann_path"):
                value = getattr(split, attr)
                if value and not Path(value).expanduser().is_absolute():
                    setattr(split, attr, str((base_dir / value).resolve()))
                elif value:
                    setattr(split, attr, str(Path(value).expanduser()))


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key=value, e.g. train.epochs=50")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""


def _apply_override(data: dict, keys: list[str], value: Any) -> None:
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override '{'.'.join(keys)}': '{key}' is not a section")
        node = child
    node[keys[-1]] = value


def keys_set_by_user(
    source: str | Path | dict | Config | None = None, overrides: list[str] | None = None
) -> frozenset[str]:
    """Dotted keys the user set: in their YAML file or dict, in ``overrides``, and for a
    Config every value that differs from its preset's. A preset's own keys do not count."""
    if isinstance(source, Config):
        base = load_config(source.preset) if source.preset else Config()
        data = _differences(to_dict(source), to_dict(base))
    elif isinstance(source, dict):
        data = source
    elif source is None or _is_preset_name(source):
        data = {}
    else:
        data = _user_yaml(Path(source).expanduser())
    keys = set(_dotted_keys(data))
    keys.update(".".join(parse_override(text)[0]) for text in overrides or [])
    return frozenset(keys - {"preset"})


def _is_preset_name(source: str | Path) -> bool:
    path = Path(source).expanduser()
    return not (path.suffix.lower() in (".yml", ".yaml") or path.exists())


def _user_yaml(path: Path) -> dict:
    data = _read_yaml(path) if path.is_file() else {}
    if _is_official(data):
        from nanodet_plus.config.official import translate_official

        data = translate_official(data, path)
    return data


def _is_official(data: dict) -> bool:
    model = data.get("model", {})
    return "schedule" in data or (isinstance(model, dict) and isinstance(model.get("arch"), dict))


def _dotted_keys(data: Any, prefix: str = "") -> list[str]:
    """The leaf keys of nested dicts as dotted paths (a section is not a leaf)."""
    keys = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            keys += _dotted_keys(value, f"{path}.")
        else:
            keys.append(path)
    return keys


def _differences(data: dict, base: dict) -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            nested = _differences(value, base[key])
            if nested:
                out[key] = nested
        elif value != base.get(key):
            out[key] = value
    return out


def load_config(
    source: str | Path | dict | Config | None = None,
    overrides: list[str] | None = None,
    **fields: Any,
) -> Config:
    """Build and validate a :class:`Config`.

    ``source`` is a preset name, a path to a YAML file, a dict, a Config (copied) or None
    (schema defaults). A YAML file may name a ``preset:`` that it overrides. ``overrides`` are
    ``key.path=value`` strings; ``fields`` are top-level replacements applied last.
    """
    base_dir = Path.cwd()
    if not isinstance(source, (str, Path, dict, Config, type(None))):
        raise ConfigError(f"expected a preset name, a YAML path, a dict or a Config, got "
                          f"{type(source).__name__}")
    if isinstance(source, Config):
        data = to_dict(source)
    elif isinstance(source, dict):
        data = copy.deepcopy(source)
    elif source is None:
        data = {}
    else:
        path = Path(source).expanduser()
        if path.suffix.lower() in (".yml", ".yaml") or path.exists():
            if not path.exists():
                raise ConfigError(f"config file not found: {path}")
            data = _read_yaml(path)
            base_dir = path.resolve().parent
            if _is_official(data):
                from nanodet_plus.config.official import translate_official

                data = translate_official(data, path)
        else:
            data = _preset_dict(str(source))
    if isinstance(data.get("preset"), str) and data["preset"] != (
        source if isinstance(source, str) else None
    ):
        data = _merge(_preset_dict(data["preset"]), data)
    for text in overrides or []:
        keys, value = parse_override(text)
        _apply_override(data, keys, value)
    data.update(fields)
    config = _from_dict(Config, data)
    _resolve_dataset_paths(config, base_dir)
    validate(config)
    return config


def save_config(config: Config, path: str | Path) -> None:
    """Write the full resolved config as YAML (atomically: never a half-written file)."""
    atomic_write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
