"""Compact progress lines for long steps (downloads, the frame export, training epochs).

A rule's log keeps every detail; the console gets one short line now and then, never a redrawn bar
(no carriage returns), so a person can watch a long run and a log stays readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping


def duration(seconds: float) -> str:
    """A duration the way a person says it.

    >>> duration(42.4), duration(200), duration(3 * 3600 + 120)
    ('42 s', '3 min 20 s', '3 h 2 min')
    """
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def size(n_bytes: float) -> str:
    """A byte count in the largest unit that keeps it above 1.

    >>> size(999), size(3 * 1024**3)
    ('999 B', '3.0 GB')
    """
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{int(n_bytes)} B"


class Progress:
    """Counts work done and writes a line at most every `every_s` seconds, and one at the end.

    >>> lines = []
    >>> ticks = iter([0.0, 5.0, 12.0, 20.0])
    >>> counter = Progress("export", 100, "frames", write=lines.append, every_s=10, clock=lambda: next(ticks))
    >>> counter.update(10); counter.update(40); counter.update(50)
    >>> lines
    ['export: 50/100 frames (50%), 4.2 frames/s, ETA 12 s', 'export: 100/100 frames (100%), 5.0 frames/s, 20 s']
    """

    def __init__(
        self,
        what: str,
        total: float | None,
        unit: str = "",
        *,
        write: Callable[[str], None],
        every_s: float = 10.0,
        initial: float = 0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.what, self.total, self.unit, self.write, self.every_s, self.clock = (
            what,
            total,
            unit,
            write,
            every_s,
            clock,
        )
        self.start_t = self.last_t = clock()
        self.start_n = self.n = initial

    def _amount(self, n: float) -> str:
        return size(n) if self.unit == "B" else f"{int(n)}"

    def line(self, now: float) -> str:
        elapsed = max(now - self.start_t, 1e-9)
        rate = (self.n - self.start_n) / elapsed
        done = self.total is not None and self.n >= self.total
        text = f"{self.what}: {self._amount(self.n)}"
        if self.total:
            text += f"/{self._amount(self.total)}{' ' + self.unit if self.unit != 'B' else ''}"
            text += f" ({100 * self.n / self.total:.0f}%)"
        elif self.unit != "B":
            text += f" {self.unit}"
        text += f", {size(rate)}/s" if self.unit == "B" else f", {rate:.1f} {self.unit}/s"
        if done:
            return text + f", {duration(elapsed)}"
        if self.total and rate > 0:
            text += f", ETA {duration((self.total - self.n) / rate)}"
        return text

    def update(self, n: float = 1) -> None:
        self.n += n
        now = self.clock()
        finished = self.total is not None and self.n >= self.total
        if finished or now - self.last_t >= self.every_s:
            self.last_t = now
            self.write(self.line(now))


def epoch_line(
    name: str, epoch: int, epochs: int, losses: Mapping[str, float], map50: float | None, seconds_per_epoch: float
) -> str:
    """One console line per training epoch.

    >>> epoch_line("yolo", 3, 20, {"box_loss": 1.23456, "cls_loss": 2.5}, 0.4567, 25.2)
    'train yolo: epoch 3/20  box_loss 1.235  cls_loss 2.500  val mAP50 0.457  25.2 s/epoch  ETA 7 min 8 s'
    """
    loss_text = "  ".join(f"{key} {value:.3f}" for key, value in losses.items())
    map_text = f"val mAP50 {map50:.3f}" if map50 is not None else "val mAP50 -"
    eta = duration(seconds_per_epoch * (epochs - epoch))
    return f"train {name}: epoch {epoch}/{epochs}  {loss_text}  {map_text}  {seconds_per_epoch:.1f} s/epoch  ETA {eta}"
