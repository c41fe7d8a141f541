"""Pen-up to final text on the demo's canvas, in a real browser, with real handwriting.

    python benchmarks/sketch_latency.py                    # starts app.py on a free port, 40 lines
    python benchmarks/sketch_latency.py --lines 100 --url http://127.0.0.1:7860/

Starts ``app.py`` on a free loopback port (unless --url is given), opens the page in headless
Chromium (/usr/bin/chromium) and writes IAM On-Line validation lines on the canvas, stroke by
stroke, as pointer events (40 to 80 CSS pixels tall, whole pixels, like a mouse), with "Recognise
as I draw" on: short pen-up gaps between strokes and one longer pause mid-line, so a reading
appears while the line is still being written. For each line it measures the time from the
last pen-up to the final text being shown for the whole line (page clock), counts the requests
the page sent, and compares the text with the recognizer's reading of the line's canvas image
(``render_strokes(..., "canvas")``) with the app's default decoder (beam width 16, top 5).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from htr.decode import BEAM_WIDTH  # noqa: E402
from htr.paths import default_model_dir, iam_ondb_dir  # noqa: E402
from htr.synth.canvas_replay import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    canvas_box,
    clear,
    count_reads,
    fitting_lines,
    pad_state,
    wait_answered,
    write_line,
)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(port: int) -> subprocess.Popen:
    """``python app.py --port PORT`` on 127.0.0.1, once it serves its page."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("app.py did not start within 180 s")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=40, help="validation lines to write (default 40)")
    parser.add_argument("--url", help="a running app to measure instead of starting app.py")
    parser.add_argument("--data", default=str(iam_ondb_dir()),
                        help="IAM On-Line folder (default $HTR_DATA/iam-ondb, else ../shared/data/iam-ondb)")
    parser.add_argument("--gap-ms", type=int, default=80, help="pen-up gap between strokes (default 80 ms)")
    parser.add_argument("--pause-ms", type=int, default=700,
                        help="pause mid-line, long enough for a live read (default 700 ms; 0: none)")
    args = parser.parse_args(argv)

    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} not found: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    from htr import Recognizer
    from htr.cli import DEFAULT_DECODER
    from htr.datasets import load_dataset
    from htr.metrics import error_rates
    from htr.render import render_strokes

    samples = load_dataset("iam-ondb", Path(args.data), "validation").samples
    load_before = os.getloadavg()
    proc = None
    url = args.url
    if url is None:
        port = free_port()
        started = time.perf_counter()
        proc = start_app(port)
        url = f"http://127.0.0.1:{port}/"
        print(f"app.py serving on {url} after {time.perf_counter() - started:.1f} s")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#pad canvas")
            page.wait_for_function("() => document.querySelector('#pad canvas').width > 0")
            lines = fitting_lines(samples, args.lines, canvas_box(page)["width"])
            reads = count_reads(page)
            latencies, texts, requests, reading = [], [], [], []
            for sample, height in lines:
                clear(page)
                before = len(reads)
                pause = len(sample.strokes) // 2 if args.pause_ms else None
                written = write_line(page, sample.strokes, height, pause_after=pause, pause_ms=args.pause_ms,
                                     gap_ms=args.gap_ms)
                seen = wait_answered(page)
                latencies.append((seen - written["penUp"]) / 1000.0)
                texts.append(page.input_value("#draw-text textarea"))
                status = re.search(r"in (\d+) ms", page.inner_text("#draw-status"))
                if status:
                    reading.append(int(status.group(1)) / 1000.0)
                requests.append(len(reads) - before)
                assert pad_state(page)["answered"] == pad_state(page)["seq"]
            browser.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    load_after = os.getloadavg()

    references = [sample.text for sample, _ in lines]
    recognizer = Recognizer.load(default_model_dir())  # the app's model folder (HTR_MODEL_DIR)
    images = [render_strokes(sample.strokes, "canvas") for sample, _ in lines]
    image_texts = [r.text for r in recognizer.recognize_batch(images, decoder=DEFAULT_DECODER, beam_width=BEAM_WIDTH, top_k=5)]
    live_cer = error_rates(references, texts).cer
    image_cer = error_rates(references, image_texts).cer
    print(f"lines: {len(lines)} (IAM On-Line validation, {min(h for _, h in lines)}-{max(h for _, h in lines)} px tall)")
    print(f"pen-up to final text: p50 {percentile(latencies, 50):.2f} s, p95 {percentile(latencies, 95):.2f} s, "
          f"max {max(latencies):.2f} s")
    if reading:
        print(f"of which reading the strokes on the server (rendering, network, decoding): "
              f"p50 {percentile(reading, 50):.2f} s, p95 {percentile(reading, 95):.2f} s")
    print(f"requests per line: mean {np.mean(requests):.2f}, max {max(requests)} "
          f"(one per pause the pen made, the mid-line pause included)")
    print(f"decoder: {DEFAULT_DECODER} (the app's default), for the canvas and the images")
    print(f"CER live on the canvas {live_cer:.4f}; the same lines as images {image_cer:.4f} "
          f"(ratio {live_cer / max(image_cer, 1e-9):.2f})")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}, on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
