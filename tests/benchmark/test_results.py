"""The one results format: machine description, metadata fields and their check."""

from __future__ import annotations

import json

import pytest

from nanodet_plus.benchmark.results import (
    REQUIRED_FIELDS,
    build_record,
    command_line,
    describe_machine,
    machine_info,
    microarchitecture,
    missing_fields,
    write_results,
)

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9354P
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: ignored second core
"""


def test_machine_info_names_the_core_and_its_features(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(ZEN4)
    info = machine_info(cpuinfo)
    assert info["cpu"] == "AMD EPYC 9354P"
    assert info["microarchitecture"] == "Zen 4"
    assert info["features"] == ["AVX2", "AVX-512", "VNNI", "BF16"]
    assert info["flags"] == ["avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f"]
    assert (info["cpu_family"], info["cpu_model"]) == (25, 17)
    text = describe_machine({**info, "cores": 2})
    assert text == "AMD EPYC 9354P (Zen 4; AVX2, AVX-512, VNNI, BF16), 2 cores"


def test_microarchitecture_of_amd_families():
    assert microarchitecture("AuthenticAMD", 25, 1, ["avx2"]) == "Zen 3"
    assert microarchitecture("AuthenticAMD", 25, 17, ["avx2", "avx512f"]) == "Zen 4"
    assert microarchitecture("AuthenticAMD", 23, 49, []) == "Zen 2"
    assert microarchitecture("GenuineIntel", 6, 143, ["avx512f"]) is None


def test_a_record_has_every_field_and_round_trips(tmp_path):
    path = write_results(tmp_path / "sub" / "x-2026-01-01.json", "bench_x", "what is measured",
                         {"rows": [1, 2]}, command="python benchmarks/bench_x.py --fast",
                         runtimes=("numpy",), load_before=[0.5, 0.4, 0.3])
    record = json.loads(path.read_text())
    assert list(record)[:len(REQUIRED_FIELDS)] == list(REQUIRED_FIELDS)
    assert missing_fields(record) == []
    assert record["rows"] == [1, 2]
    assert record["versions"]["numpy"] and record["versions"]["torch"]
    assert record["load_average"]["before"] == [0.5, 0.4, 0.3]


def test_missing_fields_names_what_is_absent():
    record = build_record("bench_x", "f", {}, command="c")
    del record["versions"]["torch"]
    record["figure"] = ""
    assert missing_fields(record) == ["figure", "versions.torch"]
    assert missing_fields({"machine": "AMD EPYC, 2 cores"})[-1].startswith("machine (a string")


def test_data_cannot_overwrite_the_metadata():
    with pytest.raises(ValueError, match=r"\['date', 'machine'\]"):
        build_record("bench_x", "f", {"machine": 1, "date": 2}, command="c")


def test_command_line_is_relative_to_the_repository(tmp_path):
    script = tmp_path / "benchmarks" / "bench_x.py"
    assert command_line(script, ["--out", "a b"], tmp_path) == (
        "python benchmarks/bench_x.py --out 'a b'")
