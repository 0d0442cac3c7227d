"""A one-line progress bar on stderr: plain ``\\r`` updates on a terminal, no dependency.

Written to something that is not a terminal (a log file, CI's output), the bar draws only its
final state, one line per bar, instead of a stream of carriage returns.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar(4, "epoch 1/1", stream=out, min_interval=0)
    >>> for _ in range(4):
    ...     bar.update(loss=0.5)
    >>> bar.close()
    >>> out.getvalue()[:40]
    'epoch 1/1 [########################] 4/4'
"""

from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """``total`` steps; ``update(loss=...)`` after each. Redraws at most every ``min_interval`` s.

    The line shows the steps done, the last loss and the steps per second since the bar began.
    ``close()`` draws the final state and ends the line.
    """

    def __init__(self, total: int, label: str, stream=None, width: int = 24, min_interval: float = 0.1,
                 live: bool | None = None):
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        # redraw in place only on a terminal (``live=None`` asks the stream)
        self.live = live if live is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.min_interval = min_interval
        self.done = 0
        self.loss: float | None = None
        self.start = time.perf_counter()
        self._drawn = float("-inf")

    def update(self, n: int = 1, loss: float | None = None) -> None:
        self.done += n
        if loss is not None:
            self.loss = loss
        now = time.perf_counter()
        if self.live and now - self._drawn >= self.min_interval:
            self._draw(now)

    @property
    def steps_per_second(self) -> float:
        return self.done / max(time.perf_counter() - self.start, 1e-9)

    def _draw(self, now: float) -> None:
        self._drawn = now
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        loss = f"loss {self.loss:.4f}  " if self.loss is not None else ""
        start = "\r" if self.live else ""
        self.stream.write(f"{start}{self.label} [{bar}] {self.done}/{self.total}  {loss}{self.steps_per_second:.0f} steps/s")
        self.stream.flush()

    def close(self) -> None:
        self._draw(time.perf_counter())
        self.stream.write("\n")
        self.stream.flush()
