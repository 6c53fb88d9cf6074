"""One format for benchmark results files: the figures plus what is needed to trust them.

Every results file is a JSON object holding at least :data:`REQUIRED_FIELDS`:

- ``benchmark``: the script's name (``bench_train``);
- ``figure``: what is measured, in words;
- ``machine``: :func:`machine_info` (CPU model, its microarchitecture where known, the SIMD
  features that change speed, logical cores, OS);
- ``command``: the command as run;
- ``date``: ISO date and time of the end of the run;
- ``versions``: Python, torch and the runtimes the benchmark used;
- ``load_average``: the 1-, 5- and 15-minute load averages before and after the run (the
  machine may be shared: interleaved ratios hold under load, absolute times do not);

and beside them the data, under keys of the benchmark's own choosing.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nanodet_plus.utils.hardware import cpuinfo_fields

REQUIRED_FIELDS = ("benchmark", "figure", "machine", "command", "date", "versions")

# CPU flags (as Linux names them) that change how fast a network runs, and their usual names.
FEATURES = (
    ("avx2", "AVX2"),
    ("avx512f", "AVX-512"),
    ("avx512_vnni", "VNNI"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx512_bf16", "BF16"),
    ("amx_tile", "AMX"),
    ("asimddp", "dot product"),
    ("sve", "SVE"),
)

# Distribution names of the libraries a benchmark may name in ``runtimes``.
DISTRIBUTIONS = {
    "torch": "torch",
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
    "ncnn": "ncnn",
    "mnn": "MNN",
    "nncf": "nncf",
    "onnx": "onnx",
    "numpy": "numpy",
    "opencv": "opencv-python-headless",
    "faster-coco-eval": "faster-coco-eval",
    "pycocotools": "pycocotools",
    "ultralytics": "ultralytics",
}


def microarchitecture(vendor: str, family: int | None, model: int | None,
                      flags: Iterable[str]) -> str | None:
    """AMD's core generation from the CPU family (and AVX-512, which Zen 4 added); None for
    other vendors and unknown families (their model name usually says it)."""
    if vendor != "AuthenticAMD" or family is None:
        return None
    if family == 23:
        return "Zen 2" if (model or 0) >= 0x30 else "Zen or Zen+"
    if family == 25:
        return "Zen 4" if "avx512f" in set(flags) else "Zen 3"
    if family == 26:
        return "Zen 5"
    return None


def machine_info(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """The machine a benchmark ran on, as a results file records it."""
    fields = cpuinfo_fields(cpuinfo)
    flags = fields.get("flags", fields.get("Features", "")).split()
    family = int(fields["cpu family"]) if fields.get("cpu family", "").isdigit() else None
    model = int(fields["model"]) if fields.get("model", "").isdigit() else None
    cpu = fields.get("model name") or platform.processor() or platform.machine()
    wanted = {flag for flag, _ in FEATURES}
    info: dict[str, Any] = {
        "cpu": cpu,
        "microarchitecture": microarchitecture(fields.get("vendor_id", ""), family, model, flags),
        "features": [name for flag, name in FEATURES if flag in flags],
        "flags": sorted(f for f in flags if f in wanted or f.startswith(("avx512", "amx"))),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
    }
    if family is not None:
        info["cpu_family"], info["cpu_model"] = family, model
    return info


def describe_machine(machine: Mapping[str, Any] | str) -> str:
    """One line for a report: ``AMD EPYC (Zen 4; AVX2, AVX-512, VNNI, BF16), 2 cores``."""
    if isinstance(machine, str):
        return machine
    details = "; ".join(
        part for part in (machine.get("microarchitecture"),
                          ", ".join(machine.get("features", []))) if part)
    cpu = f"{machine['cpu']} ({details})" if details else machine["cpu"]
    cores = machine.get("cores")
    return f"{cpu}, {cores} cores" if cores else cpu


def library_versions(runtimes: Iterable[str] = ()) -> dict[str, str | None]:
    """Python, torch and each named runtime's installed version (None: not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", *runtimes):
        try:
            versions[name] = importlib.metadata.version(DISTRIBUTIONS.get(name, name))
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (None where the OS has none)."""
    if not hasattr(os, "getloadavg"):
        return None
    return [round(value, 2) for value in os.getloadavg()]


def command_line(script: str | Path, argv: Sequence[str] | None = None,
                 root: str | Path | None = None) -> str:
    """``python benchmarks/bench_x.py ARGS`` as a user would type it from ``root``."""
    script = Path(script).resolve()
    if root is not None and script.is_relative_to(Path(root).resolve()):
        script = script.relative_to(Path(root).resolve())
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["python", str(script), *args])


def build_record(benchmark: str, figure: str, data: Mapping[str, Any], *, command: str,
                 runtimes: Iterable[str] = (), load_before: Sequence[float] | None = None,
                 date: str | None = None) -> dict[str, Any]:
    """The results record: the metadata fields first, then ``data``."""
    clash = sorted(set(data) & {*REQUIRED_FIELDS, "load_average"})
    if clash:
        raise ValueError(f"data keys {clash} are reserved for the metadata")
    record: dict[str, Any] = {
        "benchmark": benchmark,
        "figure": figure,
        "machine": machine_info(),
        "command": command,
        "date": date or datetime.datetime.now().isoformat(timespec="seconds"),
        "versions": library_versions(runtimes),
        "load_average": {"before": list(load_before) if load_before else None,
                         "after": load_average()},
    }
    record.update(data)
    return record


def write_results(path: str | Path, benchmark: str, figure: str, data: Mapping[str, Any], *,
                  command: str, runtimes: Iterable[str] = (),
                  load_before: Sequence[float] | None = None) -> Path:
    """Write one results file (JSON, parent folders made) and return its path."""
    record = build_record(benchmark, figure, data, command=command, runtimes=runtimes,
                          load_before=load_before)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def missing_fields(record: Mapping[str, Any]) -> list[str]:
    """The metadata fields a results record lacks or leaves empty (``versions`` must name
    Python and torch at least)."""
    missing = [name for name in REQUIRED_FIELDS if not record.get(name)]
    versions = record.get("versions")
    if isinstance(versions, Mapping):
        missing += [f"versions.{k}" for k in ("python", "torch") if not versions.get(k)]
    machine = record.get("machine")
    if isinstance(machine, Mapping):
        missing += [f"machine.{k}" for k in ("cpu", "features", "cores") if k not in machine]
    elif machine:
        missing.append("machine (a string, not the machine_info fields)")
    return missing
