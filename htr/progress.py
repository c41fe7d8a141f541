"""A minimal progress bar for long loops (rendering, reading, validating) on stderr."""

import sys
import time


class Progress:
    """Redraws in place on a terminal; prints a few plain lines when logged to a file."""

    def __init__(self, total: int, label: str, stream=None):
        self.total = max(1, total)
        self.label = label
        self.count = 0
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._next_report = 0.0

    def update(self, n: int = 1) -> None:
        self.count += n
        fraction = min(1.0, self.count / self.total)
        if self.tty:
            width = 30
            filled = int(width * fraction)
            self.stream.write(
                f"\r{self.label} [{'=' * filled}{'.' * (width - filled)}] "
                f"{self.count}/{self.total} {time.monotonic() - self.start:.0f}s"
            )
            self.stream.flush()
        elif fraction >= self._next_report:
            self.stream.write(f"{self.label}: {self.count}/{self.total} ({fraction:.0%})\n")
            self.stream.flush()
            self._next_report += 0.25

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
        elif self.count < self.total:
            self.stream.write(f"{self.label}: {self.count}/{self.total}\n")
        self.stream.flush()
