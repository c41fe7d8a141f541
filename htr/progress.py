"""Progress of long loops (rendering, reading, validating), drawn by tqdm on stderr."""

import sys

from tqdm import tqdm


class Progress:
    """A tqdm bar: redrawn in place on a terminal, a line every 30 s (and at the end) in a log."""

    def __init__(self, total: int, label: str, stream=None, unit: str = "line"):
        stream = stream or sys.stderr
        tty = getattr(stream, "isatty", lambda: False)()
        self.bar = tqdm(total=max(1, total), desc=label, file=stream, unit=unit, dynamic_ncols=tty,
                        mininterval=0.2 if tty else 30.0, ascii=not tty, leave=True)

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()
