"""Writing real handwriting on the demo's canvas in a browser (Playwright), for the browser tests and the latency benchmark.

A line of IAM On-Line (pen trajectories in whiteboard units) is scaled to a given height in
CSS pixels, rounded to whole pixels as a mouse reports them, and replayed on the canvas as
DOM pointer events (pointerdown, pointermove..., pointerup per stroke), dispatched in the
page: driving the real mouse costs about a second per move under software rendering.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CHROMIUM = Path(os.environ.get("HTR_CHROMIUM", "/usr/bin/chromium"))
# The canvas is a plain 2D canvas: software raster, no GPU emulation (which would take the CPU
# the server under test needs).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LINE_HEIGHTS = (40, 50, 60, 70, 80)  # CSS pixels, the lines' ink from top to bottom, in turn
MARGIN = 16  # CSS pixels left free at the canvas's left and right

# One stroke after another: all of a stroke's events at once, then a short pen-up gap (a
# longer pause after stroke `pauseAfter`, to let a live read start mid-line). Returns the
# time of the last pen-up and the canvas's state right after it (page clock, ms).
REPLAY_JS = """
async ({strokes, pauseAfter, pauseMs, gapMs, pointerType, pad = '#pad'}) => {
  const canvas = document.querySelector(`${pad} canvas`);
  const box = canvas.getBoundingClientRect();
  const fire = (type, x, y, buttons) => canvas.dispatchEvent(new PointerEvent(type, {
    bubbles: true, cancelable: true, composed: true, pointerId: 7, pointerType, isPrimary: true,
    button: type === 'pointermove' ? -1 : 0, buttons, pressure: buttons ? 0.5 : 0,
    clientX: box.left + x, clientY: box.top + y}));
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  let penUp = 0, state = '';
  for (let i = 0; i < strokes.length; i++) {
    const s = strokes[i];
    fire('pointerdown', s[0][0], s[0][1], 1);
    for (let j = 1; j < s.length; j++) fire('pointermove', s[j][0], s[j][1], 1);
    fire('pointerup', s[s.length - 1][0], s[s.length - 1][1], 0);
    penUp = performance.now();
    if (i < strokes.length - 1) await sleep(i === pauseAfter ? pauseMs : gapMs);
  }
  state = document.querySelector(`${pad} .htr-pad`).dataset.state;
  return {penUp, state};
}
"""

# The canvas's latest drawing has been read and its reply shown: the time it was seen.
ANSWERED_JS = """
() => {
  const pad = document.querySelector('#pad .htr-pad');
  return pad.dataset.seq === pad.dataset.answered && pad.dataset.state === 'idle' ? performance.now() : false;
}
"""


def canvas_box(page, pad: str = "#pad") -> dict:
    return page.locator(f"{pad} canvas").bounding_box()


def place(strokes: list[np.ndarray], height: float, top: float, left: float = MARGIN) -> list[list[list[float]]]:
    """Strokes scaled so the ink is ``height`` CSS pixels tall, at (left, top), in whole pixels."""
    points = np.concatenate(strokes)
    lo = points.min(axis=0)
    scale = height / max(float(np.ptp(points[:, 1])), 1.0)
    return [np.round((s - lo) * scale + (left, top)).tolist() for s in strokes]


def fitting_lines(samples, count: int, width: float, heights=LINE_HEIGHTS) -> list[tuple[object, int]]:
    """The first ``count`` lines that fit ``width`` pixels at their turn's height (else lower, to 40 px)."""
    chosen = []
    for sample in samples:
        points = np.concatenate(sample.strokes)
        aspect = float(np.ptp(points[:, 0])) / max(float(np.ptp(points[:, 1])), 1.0)
        height = heights[len(chosen) % len(heights)]
        while height > min(heights) and aspect * height > width - 2 * MARGIN:
            height -= 10
        if aspect * height <= width - 2 * MARGIN:
            chosen.append((sample, height))
        if len(chosen) == count:
            break
    return chosen


def write_line(page, strokes: list[np.ndarray], height: float, pause_after: int | None = None, pause_ms: int = 500,
               gap_ms: int = 4, pointer_type: str = "mouse", pad: str = "#pad") -> dict:
    """Write a line in the middle of the canvas (``pad``: the writing surface's element, the Draw
    tab's by default); returns {penUp, state} (see REPLAY_JS)."""
    box = canvas_box(page, pad)
    placed = place(strokes, height, top=max(4.0, (box["height"] - height) / 2))
    return page.evaluate(REPLAY_JS, {"strokes": placed, "pauseAfter": -1 if pause_after is None else pause_after,
                                     "pauseMs": pause_ms, "gapMs": gap_ms, "pointerType": pointer_type,
                                     "pad": pad})


def wait_answered(page, timeout_ms: float = 60_000) -> float:
    """Wait until the canvas's latest drawing is read; returns the page-clock time it was seen."""
    return float(page.wait_for_function(ANSWERED_JS, timeout=timeout_ms, polling="raf").json_value())


def pad_state(page) -> dict:
    return page.evaluate("() => ({...document.querySelector('#pad .htr-pad').dataset})")


def clear(page, wait: bool = True) -> None:
    """Press Clear (if there is anything to clear); ``wait`` for the emptied result to be shown."""
    if int(pad_state(page).get("strokes", "0")):
        page.click("#pad .htr-clear")
        if wait:
            wait_answered(page)


def choose_pen(page, size: int) -> None:
    page.click(f'#pad .htr-pen[data-pen="{size}"]')


def count_reads(page) -> list[str]:
    """A list that collects every queued request the page sends (one per event run)."""
    joins: list[str] = []
    page.on("request", lambda request: joins.append(request.url) if "/queue/join" in request.url else None)
    return joins
