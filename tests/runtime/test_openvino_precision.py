"""OpenVINO reports the precision it really ran in; the benchmark's note depends on reading it."""

from __future__ import annotations

import pytest

from nanodet_plus.runtime.openvino_backend import precision_name

ov = pytest.importorskip("openvino")


@pytest.mark.parametrize(("hint", "expected"), [
    (ov.Type.bf16, "bf16"), (ov.Type.f32, "f32"), (ov.Type.f16, "f16"),
    ("bf16", "bf16"), ("f32", "f32"), ("<Type: 'bfloat16'>", "bf16"),
])
def test_precision_name_reads_openvino_types(hint: object, expected: str) -> None:
    assert precision_name(hint) == expected


def test_precision_name_keeps_unknown_names() -> None:
    assert precision_name("<Type: 'u8'>") == "u8"
