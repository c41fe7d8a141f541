"""Phone photos of pages and lines on a desk: is the paper found, and is a photo read as well as its scan?

    python benchmarks/photos.py [--part tune|report|all] [--limit N] [--pages 60] [--long-side 2400]
                                [--decoders best,lm] [--save-examples DIR]

Builds the photo set with htr/synth/photos.py from real IAM handwriting: every line of
splits/available-dev.txt photographed on an index card or sticky note, and ``--pages`` pages
stacked from those lines (htr/synth/pages.py), each in two looks: the desk visible around the
paper, and the paper filling the frame. Items alternate between the generator's two parts:
``tune`` (desks and angles the paper finder was developed on) and ``report`` (other desks,
steeper angles; only measured). Each photo goes through ``htr.imageio.read_image`` (EXIF
orientation undone), then ``htr.paper.find_paper``; the flattened sheet is read when found,
else the photo as it is. Prints, for each part and look:

* corpus CER (and WER) of the photos beside the same scans read the same way, and the ratio,
  for every decoder (one network pass per image, decoded by each); photos whose sheet is
  pushed partly out of the frame lose writing that no reader can see, and are scored apart;
* how often the paper was found, and found correctly (every corner within 3 % of the sheet's
  diagonal from the truth), among photos whose sheet is whole in the frame, by desk;
* find + flatten time on the photos at 2,400 px long side (CPU time on one thread, median, p95
  and max), with the load average beside it.

The acceptance: on the report part, photo CER <= 1.2 x scan CER with both decoders, and the
paper found in >= 98 % of the photos where it is whole in the frame.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from htr.paths import default_model_dir

CORNER_TOLERANCE = 0.03  # of the sheet's diagonal: a corner further off counts as a wrong find


@dataclass
class Tally:
    """Texts read and finds counted for one part and look."""

    refs: list[str] = field(default_factory=list)
    desks: list[str] = field(default_factory=list)  # each read photo's desk
    finds: list[bool] = field(default_factory=list)  # each read photo's sheet found correctly
    scans: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    photos: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    whole: int = 0
    found: int = 0
    correct: int = 0
    found_cut: int = 0  # photos whose sheet is not whole (or fills the frame) where a sheet was found
    not_whole: int = 0
    by_desk: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    misses: list[str] = field(default_factory=list)


def corners_close(found, truth, tolerance: float = CORNER_TOLERANCE) -> bool:
    import numpy as np

    diagonal = max(np.hypot(*(truth[2] - truth[0])), np.hypot(*(truth[3] - truth[1])))
    return bool(np.abs(np.asarray(found) - truth).max() <= tolerance * diagonal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default=str(default_model_dir()))
    parser.add_argument("--part", default="all", choices=("tune", "report", "all"))
    parser.add_argument("--limit", type=int, default=0, help="at most this many lines, and a quarter as many pages (0: all)")
    parser.add_argument("--pages", type=int, default=60, help="pages stacked from the dev lines")
    parser.add_argument("--long-side", type=int, default=2400, help="the photos' long side (a 12 MP photo as read)")
    parser.add_argument("--decoders", default="best,lm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-examples", help="write a few photos with the truth (red) and found (green) outlines here")
    args = parser.parse_args()

    import cv2
    import numpy as np
    from tqdm import tqdm

    from htr import Recognizer
    from htr.datasets import load_dataset
    from htr.decode import decode
    from htr.errors import HTRError
    from htr.imageio import read_image
    from htr.metrics import error_rates
    from htr.page import recognize_page
    from htr.paper import find_paper
    from htr.paths import iam_dir, iam_split
    from htr.synth.pages import stacked_pages
    from htr.synth.photos import LOOKS, photograph

    if not (iam_dir() / "lines").is_dir():
        sys.exit(f"IAM data not found at {iam_dir()}")
    decoders = [d for d in args.decoders.split(",") if d]
    recognizer = Recognizer.load(args.model_dir)
    decoders = [recognizer.resolve_decoder(d) for d in decoders]

    def texts(recognitions) -> dict[str, str]:
        """Each decoder's text of the lines read (one network pass, decoded by each)."""
        out = {}
        for d in decoders:
            lines = []
            for r in recognitions:
                paths = decode(r.probabilities, d, 16, 1, lm=recognizer.lm).paths
                lines.append(recognizer.config.decode(paths[0][0]))
            out[d] = "\n".join(lines)
        return out

    def read_line(image) -> dict[str, str]:
        try:
            return texts([recognizer.recognize(image, decoder="best")])
        except HTRError:
            return {d: "" for d in decoders}

    def read_page(image) -> dict[str, str]:
        try:
            page = recognize_page(recognizer, image, layout="page", decoder="best")
        except HTRError:
            return {d: "" for d in decoders}
        return texts([line.recognition for line in page.lines])

    dev = load_dataset("iam", iam_dir(), str(iam_split("available-dev")))
    lines = dev.samples[: args.limit or None]
    page_count = min(args.pages, max(2, args.limit // 4)) if args.limit else args.pages  # a page costs ~10 lines
    pages = stacked_pages(dev.samples, iam_dir(), page_count, seed=args.seed)
    items = [("line", i, s.text, s.path) for i, s in enumerate(lines)] + \
            [("page", i, p.text, p) for i, p in enumerate(pages)]
    parts = ("tune", "report") if args.part == "all" else (args.part,)
    items = [it for it in items if ("tune", "report")[it[1] % 2] in parts]

    from htr.paper import warm_up

    threads = cv2.getNumThreads()

    start = time.process_time()
    warm_up()  # OpenCV's colour tables, built once a process (a server does it at start)
    first_call = time.process_time() - start
    tallies: dict[tuple[str, str, str], Tally] = defaultdict(Tally)
    times: list[float] = []
    examples = Path(args.save_examples) if args.save_examples else None
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {len(items)} scans, "
          f"{len(items) * len(LOOKS)} photos; decoders {', '.join(decoders)}", flush=True)
    bar = tqdm(items, desc="photos", unit="item", mininterval=0.5 if sys.stderr.isatty() else 30.0)
    for kind, index, text, source in bar:
        part = ("tune", "report")[index % 2]
        if kind == "line":
            scan = read_image(source)
            gray = scan if scan.ndim == 2 else cv2.cvtColor(scan, cv2.COLOR_RGB2GRAY)
            read_scan = read_line(scan)
        else:
            gray = source.image
            read_scan = read_page(source.image)
        other = pages[(index + 1) % len(pages)].image if kind == "page" and pages else None
        for look in LOOKS:
            seed = args.seed * 1_000_003 + (0 if kind == "line" else 500_000) + index * 2 + LOOKS.index(look)
            photo = photograph(gray, text, seed, part, look, small=kind == "line", other=other,
                               long_side=args.long_side)
            array = read_image(photo.jpeg)
            cv2.setNumThreads(1)  # timed on one core, this thread's CPU time only: ONNX Runtime's
            start = time.thread_time()  # threads, still spinning after a reading, are not the finder's
            paper = find_paper(array)
            times.append(time.thread_time() - start)
            cv2.setNumThreads(threads)
            image = paper.image if paper is not None else array
            read_photo = read_line(image) if kind == "line" else read_page(image)
            tally = tallies[(part, kind, look)]
            # a sheet pushed out of the frame loses writing no reader can see: scored apart
            scored = tally if photo.whole or look == "fills" else tallies[(part, kind, "cut")]
            scored.refs.append(text)
            scored.desks.append(photo.spec.desk)
            scored.finds.append(bool(paper is not None and corners_close(paper.corners, photo.corners)))
            for d in decoders:
                scored.scans[d].append(read_scan[d])
                scored.photos[d].append(read_photo[d])
            if photo.whole:
                tally.whole += 1
                tally.found += paper is not None
                good = paper is not None and corners_close(paper.corners, photo.corners)
                tally.correct += good
                desk = tally.by_desk[photo.spec.desk]
                desk[0] += 1
                desk[1] += paper is not None
                desk[2] += good
                if not good:
                    tally.misses.append(f"{kind} {index} {look} seed {seed}: {photo.spec.desk}, "
                                        f"{'found wrong' if paper is not None else 'not found'}")
            else:
                tally.not_whole += 1
                tally.found_cut += paper is not None
            if examples is not None and index < 6:
                examples.mkdir(parents=True, exist_ok=True)
                shown = cv2.cvtColor(array if array.ndim == 3 else cv2.cvtColor(array, cv2.COLOR_GRAY2RGB),
                                     cv2.COLOR_RGB2BGR)
                cv2.polylines(shown, [photo.corners.astype(np.int32).reshape(-1, 1, 2)], True, (0, 0, 255), 5)
                if paper is not None:
                    cv2.polylines(shown, [paper.corners.astype(np.int32).reshape(-1, 1, 2)], True, (0, 255, 0), 3)
                cv2.imwrite(str(examples / f"{part}-{kind}-{index}-{look}.jpg"),
                            cv2.resize(shown, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA))
    bar.close()

    for part in parts:
        for kind in ("line", "page"):
            for look in LOOKS + ("cut",):
                tally = tallies.get((part, kind, look))
                if tally is None or not (tally.refs or tally.whole or tally.not_whole):
                    continue
                name = {"desk": "desk visible, sheet whole in the frame", "fills": "paper fills the frame",
                        "cut": "desk visible, sheet cut by the frame (writing lost)"}[look]
                print(f"{part} {kind}s, {name} ({len(tally.refs)} read)")
                subsets = [("all", [True] * len(tally.refs))]
                if look == "desk":
                    subsets += [("desks other than white", [k != "white" for k in tally.desks]),
                                ("sheet found correctly", tally.finds)]
                for label, keep in subsets if tally.refs else ():
                    refs = [r for r, k in zip(tally.refs, keep) if k]
                    if not refs or (label != "all" and all(keep)):
                        continue
                    print(f"  {label} ({len(refs)}):")
                    for d in decoders:
                        scan_rates = error_rates(refs, [t for t, k in zip(tally.scans[d], keep) if k])
                        photo_rates = error_rates(refs, [t for t, k in zip(tally.photos[d], keep) if k])
                        print(f"    {d:>4}: photo CER {photo_rates.cer:.2%} (WER {photo_rates.wer:.2%}), scan CER "
                              f"{scan_rates.cer:.2%} (WER {scan_rates.wer:.2%}), ratio "
                              f"{photo_rates.cer / max(scan_rates.cer, 1e-9):.2f}  [{scan_rates.chars} chars]")
                if tally.whole:
                    print(f"  paper found {tally.found}/{tally.whole} ({tally.found / tally.whole:.1%}), correctly "
                          f"{tally.correct}/{tally.whole} ({tally.correct / tally.whole:.1%}) of photos with the "
                          f"sheet whole in the frame; by desk (whole, found, correct): "
                          + ", ".join(f"{k} {v[0]}/{v[1]}/{v[2]}" for k, v in sorted(tally.by_desk.items())))
                if tally.not_whole:
                    print(f"  a sheet found in {tally.found_cut}/{tally.not_whole} photos whose sheet is cut by the frame")
                for miss in tally.misses[:8]:
                    print(f"    {miss}")
        rows = [t for (p, _, look), t in tallies.items() if p == part and look == "desk"]
        whole = sum(t.whole for t in rows)
        if whole:
            print(f"{part}, desk visible, lines and pages: paper found {sum(t.found for t in rows)}/{whole} "
                  f"({sum(t.found for t in rows) / whole:.1%}), correctly {sum(t.correct for t in rows)}/{whole} "
                  f"({sum(t.correct for t in rows) / whole:.1%})")
            # white paper on a white desk shows no edge: None is the intended answer there
            coloured = [v for t in rows for k, v in t.by_desk.items() if k != "white"]
            seen = sum(v[0] for v in coloured)
            if seen < whole and seen:
                print(f"{part}, desk visible, desks other than white: paper found {sum(v[1] for v in coloured)}/{seen} "
                      f"({sum(v[1] for v in coloured) / seen:.1%}), correctly {sum(v[2] for v in coloured)}/{seen} "
                      f"({sum(v[2] for v in coloured) / seen:.1%})")
    t = np.asarray(times) * 1000
    print(f"find_paper + flatten on {len(t)} photos of {args.long_side} px long side: CPU time median {np.median(t):.0f} ms, "
          f"p95 {np.percentile(t, 95):.0f} ms, max {t.max():.0f} ms ({os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; CPU time of one thread, OpenCV on one thread); once a process: "
          f"{first_call * 1000:.0f} ms building OpenCV's colour tables")


if __name__ == "__main__":
    main()
