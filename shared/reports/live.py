"""The one live line of a long run: what is importing, compiling or running, for how long, and
how far along the run is. A spinner in a terminal; nothing at all when the output is piped or
the JSON goes to stdout (`--json -`), so files and pipes get the table alone.

The line is transient: it disappears when the run ends (or is interrupted), leaving the
table. compare.py, `compare.py scale` and `compare.py parallel` each hold one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

REFRESH_PER_S = 8  # often enough for the seconds to tick; cheap beside a worker process


def duration(seconds: float) -> str:
    """0.4 s, 12 s, 3 min 05 s."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


class LiveLine:
    """Use as a context manager around the run; `show` says what is happening now. When
    `enabled` is false every call does nothing (pipes, `--json -`, the tests' in-process runs)."""

    def __init__(self, console: Console | None = None, enabled: bool = False):
        self.console = console
        self.enabled = bool(enabled and console is not None)
        self.what, self.phase, self.place = "starting", "", ""
        self.started = self.phase_started = time.monotonic()
        self._live = None
        self._spinner = None

    def __enter__(self) -> LiveLine:
        if self.enabled:
            from rich.live import Live
            from rich.spinner import Spinner

            self._spinner = Spinner("dots", style="cyan")
            self._live = Live(self, console=self.console, refresh_per_second=REFRESH_PER_S, transient=True)
            self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()  # also on Ctrl-C: the line goes before the partial table is printed
            self._live = None

    def show(self, what: str, phase: str, place: str = "") -> None:
        """`what` ("jax compiled cpu, 200 steps") is in `phase` ("importing", "first call",
        "timed run 2 of 3"); `place` says how far along the whole run is ("library 3 of 7").
        The phase's clock restarts when what or the phase changes."""
        if (what, phase) != (self.what, self.phase):
            self.phase_started = time.monotonic()
        self.what, self.phase, self.place = what, phase, place

    def phases(self, what: str, place: str = "", compiled: bool = False) -> Callable[[str], None]:
        """A callback for the phases of one run of `what` (`time_runner`'s "first call", "timed
        run 1 of 3"...): a compiled mode's first call is where it traces and compiles."""
        def phase(text: str) -> None:
            self.show(what, "compiling (first call)" if compiled and text == "first call" else text, place)
        return phase

    def text(self, now: float | None = None) -> str:
        """The line without its spinner."""
        now = time.monotonic() if now is None else now
        phase = f": {self.phase} for {duration(now - self.phase_started)}" if self.phase else ""
        place = f" · {self.place}" if self.place else ""
        return f"{self.what}{phase}{place} · {duration(now - self.started)} in all"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        line = Text.assemble(self._spinner.render(console.get_time()), " ", self.text())
        line.truncate(options.max_width, overflow="ellipsis")  # one line, whatever the width
        yield line
