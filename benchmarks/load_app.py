"""Load test of the demo's /recognize endpoint with many concurrent clients.

    python benchmarks/load_app.py                      # starts app.py on a free port, then tests it
    python benchmarks/load_app.py --url http://127.0.0.1:7860/ --clients 20 --seconds 30
    python benchmarks/load_app.py --client gradio      # the same through gradio_client

Each client uploads the example images in turn (different widths, so batches of varied
shape run concurrently), waits for the result, downloads the heatmap as a browser would and
checks the text that comes back. Prints requests served, errors, throughput and latency
percentiles; exits 1 if any request failed.

``--client http`` (default) speaks Gradio's HTTP API (upload, ``/gradio_api/call/recognize``,
its event stream, the heatmap file) over one kept-alive connection per client.
``--client gradio`` uses ``gradio_client``, which opens a new HTTP client (with a fresh TLS
context) for each of the four calls a prediction makes: about 200 ms of CPU per request in
the load generator itself, which on a small machine caps what the test can measure.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, timeout: float = 90.0) -> tuple[subprocess.Popen, float]:
    """Run ``python app.py --port PORT``; return the process and how long it took to serve."""
    start = time.perf_counter()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc, time.perf_counter() - start
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"app.py did not answer on {url} within {timeout:.0f} s")


class HttpReader:
    """One client of Gradio's HTTP API, on one kept-alive connection and one session (as a
    browser tab or a gradio_client ``Client`` keeps one)."""

    def __init__(self, url: str):
        import httpx

        self.http = httpx.Client(base_url=url, timeout=120)
        self.session = uuid.uuid4().hex[:11]
        info = self.http.get("gradio_api/info")
        info.raise_for_status()
        parameters = info.json()["named_endpoints"]["/recognize"]["parameters"]
        self.defaults = [p["parameter_default"] for p in parameters[1:]]

    def read(self, image: Path) -> str:
        """Upload, recognise, fetch the heatmap; the recognised text."""
        upload = self.http.post("gradio_api/upload", files={"files": (image.name, image.read_bytes(), "image/png")})
        upload.raise_for_status()
        data = [{"path": upload.json()[0], "orig_name": image.name, "meta": {"_type": "gradio.FileData"}},
                *self.defaults]
        call = self.http.post("gradio_api/call/recognize", json={"data": data, "session_hash": self.session})
        call.raise_for_status()
        event, result = None, None
        with self.http.stream("GET", f"gradio_api/call/recognize/{call.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    if event == "error":
                        raise RuntimeError(f"server error: {line[5:].strip()}")
                    result = json.loads(line[5:])
                    break
        if result is None:
            raise RuntimeError("the event stream ended without a result")
        heatmap = result[4]
        if isinstance(heatmap, dict) and heatmap.get("url"):
            self.http.get(heatmap["url"]).raise_for_status()
        return result[0]


class GradioReader:
    """One gradio_client client."""

    def __init__(self, url: str):
        from gradio_client import Client

        self.client = Client(url, verbose=False)

    def read(self, image: Path) -> str:
        from gradio_client import handle_file

        return self.client.predict(handle_file(str(image)), api_name="/recognize")[0]


READERS = {"http": HttpReader, "gradio": GradioReader}


def run_client(url: str, kind: str, images: list[Path], expected: dict[str, str], deadline: float, offset: int,
               latencies: list[float], errors: list[str], lock: threading.Lock) -> None:
    try:
        reader = READERS[kind](url)
    except Exception as exc:  # noqa: BLE001 - every failure counts as an error
        with lock:
            errors.append(f"connect: {type(exc).__name__}: {exc}")
        return
    i = offset
    while time.perf_counter() < deadline:
        image = images[i % len(images)]
        i += 1
        start = time.perf_counter()
        try:
            text = reader.read(image)
            elapsed = time.perf_counter() - start
            problem = None if text else f"{image.name}: empty text"
            if image.name in expected and text != expected[image.name]:
                problem = f"{image.name}: read {text!r}, expected {expected[image.name]!r}"
        except Exception as exc:  # noqa: BLE001
            elapsed, problem = time.perf_counter() - start, f"{image.name}: {type(exc).__name__}: {exc}"
        with lock:
            if problem:
                errors.append(problem)
            else:
                latencies.append(elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running app (default: start app.py on a free port)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--seconds", type=float, default=30.0, help="test duration (default 30)")
    parser.add_argument("--client", choices=sorted(READERS), default="http",
                        help="http: Gradio's HTTP API on kept-alive connections (default); gradio: gradio_client")
    parser.add_argument("--images", nargs="*", type=Path, help="images to send (default: assets/example-*.png)")
    args = parser.parse_args()

    images = args.images or sorted((ROOT / "assets").glob("example-*.png"))
    if not images:
        raise SystemExit("no images to send")
    proc = None
    url = args.url
    if url is None:
        proc, startup = start_app(free_port())
        url = f"http://127.0.0.1:{proc.args[-1]}/"
        print(f"started app.py in {startup:.1f} s at {url}")
    try:
        # The text each image reads as when the server is idle: under load it must not change.
        probe = READERS[args.client](url)
        expected = {p.name: probe.read(p) for p in images}
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        start = time.perf_counter()
        deadline = start + args.seconds
        threads = [
            threading.Thread(target=run_client, args=(url, args.client, images, expected, deadline, k, latencies, errors, lock))
            for k in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)

    served = len(latencies)
    print(f"clients: {args.clients} ({args.client}), duration: {wall:.1f} s, images: {', '.join(p.name for p in images)}")
    print(f"requests served: {served}, errors: {len(errors)}, throughput: {served / wall:.1f} requests/s")
    if latencies:
        lat = np.array(latencies)
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        print(f"latency: p50 {p50:.2f} s, p95 {p95:.2f} s, p99 {p99:.2f} s, max {lat.max():.2f} s")
    for problem in errors[:10]:
        print("error:", problem)
    return 1 if errors or not served else 0


if __name__ == "__main__":
    sys.exit(main())
