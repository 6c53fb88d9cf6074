"""Reading the CPU's bf16 capability from Linux's CPU flags."""

from __future__ import annotations

from pathlib import Path

from nanodet_plus.utils.hardware import cpu_has_native_bf16

ZEN4 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16 vaes\n"
AVX2 = "processor\t: 0\nflags\t\t: fpu sse avx2 fma bmi2\n"
SAPPHIRE = "flags\t\t: avx512f amx_tile amx_bf16 amx_int8\n"


def test_reads_bf16_flags(tmp_path: Path) -> None:
    for text, expected in ((ZEN4, True), (AVX2, False), (SAPPHIRE, True), ("", False)):
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        assert cpu_has_native_bf16(path) is expected, text


def test_unreadable_cpuinfo_means_no_bf16(tmp_path: Path) -> None:
    assert cpu_has_native_bf16(tmp_path / "missing") is False
