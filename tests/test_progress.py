"""The progress bar redraws in place on a terminal and writes one final line elsewhere."""

from __future__ import annotations

import io

from graphc.progress import ProgressBar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _run(stream):
    bar = ProgressBar(3, "epoch 1/1", stream=stream, min_interval=0)
    for _ in range(3):
        bar.update(loss=0.25)
    bar.close()
    return stream.getvalue()


def test_on_a_terminal_each_update_redraws_the_line():
    text = _run(_Terminal())
    assert text.count("\r") == 4 and text.endswith("\n")  # three updates and the final state
    assert "3/3  loss 0.2500" in text.split("\r")[-1]


def test_elsewhere_only_the_final_state_is_written():
    text = _run(io.StringIO())
    assert "\r" not in text and text.count("\n") == 1
    assert text.startswith("epoch 1/1 [") and "3/3  loss 0.2500" in text and "steps/s" in text
