"""Reading an archive: speed of the local engine and of Ray with 1 and 2 workers, and the
acceptance checks of ``predict FOLDER --out OUT``.

    python benchmarks/archive.py --work /tmp/archive-bench [--pages 50] [--lines 100]
        [--alto-xsd tests/data/schemas/alto-4-4.xsd] [--pagexml-python VENV/bin/python]

Builds a tree under WORK/in (never in the repository): ``pages/boxN/`` holds PAGES pages
stacked from the real IAM line images of splits/available-dev.txt (``htr.synth.pages.
stacked_pages``), ``lines/aNN/aNN-XXX/`` LINES single real line images, and ``damaged/`` a
corrupt PNG and a link to a file that does not exist. Then, each run being the command line a
user types (``python -m htr predict ...``, timed from start to exit, model loading and Ray's
start included), with the machine's load average beside each time:

* the whole tree in each format (jsonl, txt, pagexml, alto): every input has its output, the
  two damaged files are in errors.jsonl, PAGE and ALTO files validate against their schemas,
  and the CER of their text (lines joined) against the truth equals that of the JSON output;
* the same pagexml run again: nothing rewritten (modification times), and its time against the first's;
* a pagexml run killed with SIGKILL when half its outputs are written, then run again: no
  partial file left in the tree, nothing complete rewritten, and the result equal to the
  uninterrupted run's, byte for byte;
* pages/second on the PAGES pages: local engine, Ray with 1 worker, Ray with 2 workers
  (``--engine ray --workers N``, a local Ray started by the run), and the Ray outputs against
  the local ones byte for byte; then Ray with 2 workers on the whole tree, compared likewise.

With ``--pagexml-python``: the PAGE files are also loaded by pagexml-tools (``pagexml.parser.
parse_pagexml_file``), run with that interpreter (a separate environment: it pins its own lxml).
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORMAT_EXT = {"jsonl": ".json", "txt": ".txt", "pagexml": ".xml", "alto": ".xml"}
PAGE_NS = "{http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15}"
ALTO_NS = "{http://www.loc.gov/standards/alto/ns-v4#}"


def build_tree(work: Path, pages: int, lines: int, iam: Path) -> dict[str, str]:
    """The input tree, and the truth of each input by its output stem (relative to WORK/in)."""
    import cv2

    from htr.datasets import load_dataset
    from htr.synth.pages import stacked_pages

    root = work / "in"
    truth_file = work / "truth.json"
    if truth_file.is_file() and root.is_dir():
        return json.loads(truth_file.read_text())
    shutil.rmtree(root, ignore_errors=True)
    dev = load_dataset("iam", iam, str(iam / "splits" / "available-dev.txt"))
    truth = {}
    for k, page in enumerate(stacked_pages(dev.samples, iam, pages)):
        rel = Path("pages") / f"box{k // 10 + 1}" / f"page-{k:03d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), page.image)
        truth[str(rel.with_suffix(""))] = page.text
    samples = dev.samples[:: max(1, len(dev.samples) // lines)][:lines]
    for sample in samples:
        form = sample.id.rsplit("-", 1)[0]
        rel = Path("lines") / form.split("-")[0] / form / f"{sample.id}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample.path, root / rel)
        truth[str(rel.with_suffix(""))] = sample.text
    (root / "damaged").mkdir(parents=True, exist_ok=True)
    (root / "damaged" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    (root / "damaged" / "unreadable.jpg").symlink_to(root / "damaged" / "no-such-scan.jpg")
    truth_file.write_text(json.dumps(truth))
    return truth


def predict(args: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess, tuple]:
    load = os.getloadavg()
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "htr", "predict", *args], capture_output=True, text=True,
                            env=env, cwd=ROOT)
    return time.perf_counter() - start, result, load


def outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".htr" not in p.relative_to(out).parts and p.name != "errors.jsonl"}


def mtimes(out: Path) -> dict[str, int]:
    return {name: (out / name).stat().st_mtime_ns for name in outputs(out)}


def text_of(path: Path, fmt: str) -> str:
    if fmt == "jsonl":
        return json.loads(path.read_text())["text"]
    root = ET.parse(path).getroot()
    if fmt == "pagexml":
        return "\n".join(line.findtext(f"{PAGE_NS}TextEquiv/{PAGE_NS}Unicode", "")
                         for line in root.iter(f"{PAGE_NS}TextLine"))
    return "\n".join(" ".join(s.get("CONTENT") for s in line.iter(f"{ALTO_NS}String"))
                     for line in root.iter(f"{ALTO_NS}TextLine"))


def figure(name: str, seconds: float, load: tuple, command: str, **extra) -> dict:
    row = {"run": name, "seconds": round(seconds, 1), "load_before": [round(v, 2) for v in load],
           "load_after": [round(v, 2) for v in os.getloadavg()], "command": command, **extra}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    from htr.paths import iam_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="folder for the tree and the outputs (outside the repository)")
    parser.add_argument("--iam", default=str(iam_dir()))
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--decoder", default="lm")
    parser.add_argument("--alto-xsd", default=str(ROOT / "tests" / "data" / "schemas" / "alto-4-4.xsd"))
    parser.add_argument("--pagexml-python", help="a Python with pagexml-tools installed, to load the PAGE files")
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: formats,kill,speed,ray-tree")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    import xmlschema

    from htr.metrics import error_rates

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    truth = build_tree(work, args.pages, args.lines, Path(args.iam))
    tree = work / "in"
    expected = {stem for stem in truth}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["--decoder", args.decoder]
    figures: list[dict] = []
    report: dict = {"machine": {"cpus": os.cpu_count()}, "inputs": {"pages": args.pages, "lines": args.lines,
                                                                    "damaged": 2}}
    schemas = ROOT / "tests" / "data" / "schemas"
    page_schema = xmlschema.XMLSchema(str(schemas / "page.xsd"))
    alto_schema = (xmlschema.XMLSchema(args.alto_xsd, locations={"http://www.w3.org/1999/xlink":
                                                                 str(schemas / "xlink.xsd")})
                   if Path(args.alto_xsd).is_file() else None)

    # 1. the whole tree in every format
    first_seconds = None
    for fmt in ("pagexml", "jsonl", "txt", "alto"):
        if "formats" in skip and fmt != "pagexml":
            continue
        out = work / f"out-{fmt}"
        shutil.rmtree(out, ignore_errors=True)
        command = [str(tree), "--out", str(out), "--format", fmt, *common]
        seconds, result, load = predict(command, env)
        made = outputs(out)
        stems = {str(Path(name).with_suffix("")) for name in made}
        errors = [json.loads(row) for row in (out / "errors.jsonl").read_text().splitlines()]
        check = {"exit_status": result.returncode, "outputs": len(made), "every_input_has_output": stems == expected,
                 "errors_recorded": sorted(Path(e["path"]).name for e in errors),
                 "summary": result.stderr.strip().splitlines()[-1]}
        if fmt in ("pagexml", "alto", "jsonl"):
            hyps = [text_of(out / f"{stem}{FORMAT_EXT[fmt]}", fmt) for stem in sorted(expected)]
            check["cer"] = round(100 * error_rates([truth[s] for s in sorted(expected)], hyps).cer, 3)
        schema = {"pagexml": page_schema, "alto": alto_schema}.get(fmt)
        if schema is not None:
            invalid = [name for name in made if not schema.is_valid(str(out / name))]
            check["schema_invalid"] = len(invalid)
        figures.append(figure(f"local, whole tree, {fmt}", seconds, load, "python -m htr predict " + " ".join(command),
                              **check))
        if fmt == "pagexml":
            first_seconds = seconds
            before = mtimes(out)
            seconds, result, load = predict(command, env)
            figures.append(figure("local, whole tree, pagexml, second run", seconds, load,
                                  "python -m htr predict " + " ".join(command),
                                  rewritten=sum(mtimes(out)[n] != t for n, t in before.items()),
                                  share_of_first=round(seconds / first_seconds, 3),
                                  summary=result.stderr.strip().splitlines()[-1]))
    cers = {row["run"].split(", ")[-1]: row["cer"] for row in figures if "cer" in row}
    if "jsonl" in cers:
        report["cer_points_vs_json"] = {fmt: round(cers[fmt] - cers["jsonl"], 3) for fmt in cers}

    if args.pagexml_python and (work / "out-pagexml").is_dir():
        code = ("import sys, json\nfrom pagexml.parser import parse_pagexml_file\nn = 0\nlines = 0\n"
                "for p in sys.argv[1:]:\n    doc = parse_pagexml_file(p)\n    n += 1\n"
                "    lines += len(doc.get_lines())\nprint(json.dumps({'loaded': n, 'lines': lines}))")
        files = sorted(str(p) for p in (work / "out-pagexml").rglob("*.xml") if ".htr" not in p.parts)
        loaded = subprocess.run([args.pagexml_python, "-c", code, *files], capture_output=True, text=True)
        report["pagexml_tools"] = json.loads(loaded.stdout) if loaded.returncode == 0 else loaded.stderr[-500:]
        print(json.dumps({"pagexml_tools": report["pagexml_tools"], "files": len(files)}), flush=True)

    # 2. killed half way, then resumed
    if "kill" not in skip:
        out = work / "out-killed"
        shutil.rmtree(out, ignore_errors=True)
        command = [sys.executable, "-m", "htr", "predict", str(tree), "--out", str(out), "--format", "pagexml", *common]
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        manifest = out / ".htr" / "manifest.jsonl"
        half = len(expected) // 2
        while process.poll() is None:
            if manifest.is_file() and manifest.read_text().count("\n") >= half:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        process.wait()
        done = outputs(out)
        partial = [name for name in done if not page_schema.is_valid(str(out / name))]
        leftovers = [str(p.relative_to(out)) for p in (out / ".htr" / "tmp").glob("*")] \
            if (out / ".htr" / "tmp").is_dir() else []
        before = mtimes(out)
        seconds, result, load = predict(command[4:], env)
        after = mtimes(out)
        reference = outputs(work / "out-pagexml")
        figures.append(figure("killed with SIGKILL at half, then run again", seconds, load,
                              " ".join(["python -m htr predict", *command[4:]]),
                              complete_after_kill=len(done), invalid_after_kill=len(partial),
                              temporary_files_after_kill=len(leftovers),
                              rewritten_on_rerun=sum(after[n] != t for n, t in before.items()),
                              all_outputs_after_rerun=len(after), equal_to_uninterrupted=outputs(out) == reference,
                              temporary_files_after_rerun=len(list((out / ".htr").glob("tmp/*"))),
                              summary=result.stderr.strip().splitlines()[-1]))

    # 3. pages/second: local, Ray with 1 and 2 workers, on the pages only
    if "speed" not in skip:
        runs = {}
        for name, extra in (("local", []), ("ray-1", ["--engine", "ray", "--workers", "1"]),
                            ("ray-2", ["--engine", "ray", "--workers", "2"])):
            out = work / f"speed-{name}"
            shutil.rmtree(out, ignore_errors=True)
            command = [str(tree / "pages"), "--out", str(out), "--format", "pagexml", *common, *extra]
            seconds, result, load = predict(command, env)
            runs[name] = outputs(out)
            lines = int(result.stderr.split("lines ")[-1].split(",")[0]) if "lines " in result.stderr else None
            figures.append(figure(f"{name}, {args.pages} pages, pagexml", seconds, load,
                                  "python -m htr predict " + " ".join(command),
                                  pages_per_second=round(args.pages / seconds, 3), lines=lines,
                                  equal_to_local=runs[name] == runs["local"],
                                  summary=result.stderr.strip().splitlines()[-1]))
    if "ray-tree" not in skip:
        out = work / "out-ray-tree"
        shutil.rmtree(out, ignore_errors=True)
        command = [str(tree), "--out", str(out), "--format", "pagexml", *common, "--engine", "ray", "--workers", "2"]
        seconds, result, load = predict(command, env)
        figures.append(figure("ray-2, whole tree, pagexml", seconds, load, "python -m htr predict " + " ".join(command),
                              equal_to_local=outputs(out) == outputs(work / "out-pagexml"),
                              errors_equal=(out / "errors.jsonl").read_bytes()
                              == (work / "out-pagexml" / "errors.jsonl").read_bytes(),
                              summary=result.stderr.strip().splitlines()[-1]))
    report["figures"] = figures
    (work / "results.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "figures"}), flush=True)
    print(f"written {work / 'results.json'}")


if __name__ == "__main__":
    main()
