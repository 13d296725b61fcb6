"""The sandbox's reader of a process's output: every line whole and in order, however the
pipe cuts it (a recap line of 256 KiB comes in several reads)."""

from __future__ import annotations

import os
import time

from httprecap.sandbox.processes import LineReader


def _read_all(chunks: list[bytes]) -> list[str]:
    read_end, write_end = os.pipe()
    lines: list[str] = []
    reader = LineReader(read_end, lines.append)
    for chunk in chunks:
        os.write(write_end, chunk)
        time.sleep(0.002)  # let the reader take each chunk in a read of its own
    os.close(write_end)
    reader.join(5.0)
    return lines


def test_lines_cut_across_reads_come_out_whole_and_in_order() -> None:
    long_line = b"x" * 300_000
    chunks = [b"first\nsec", b"ond\n", long_line[:70_000], long_line[70_000:200_000],
              long_line[200_000:] + b"\nthird", b"\n\nlast without a newline"]
    assert _read_all(chunks) == ["first", "second", "x" * 300_000, "third", "",
                                 "last without a newline"]


def test_a_line_read_in_one_go_and_invalid_utf8_are_kept() -> None:
    assert _read_all([b"a\nb\xff\nc\n"]) == ["a", "b\ufffd", "c"]
