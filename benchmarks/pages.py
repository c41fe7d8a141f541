"""Pages and paragraphs: are the lines found, and is a page read as well as its lines?

    python benchmarks/pages.py --forms 50 --stacked 50 [--edges 50] [--decoder lm] [--single 300]
                               [--save-examples DIR] [--paper plain|blue-rules|grey-rules|notebook|negative]

Makes the test pages with htr/pages.py: IAM On-Line validation forms drawn whole (every line
at its whiteboard position, the canvas and paper looks taking turns) and pages stacked from
the real IAM line images of splits/available-dev.txt (one form's lines, gaps shrunk at random
so descenders touch). With ``--edges N``: N more stacked pages (other spacings) each with a dark
band along one edge that is not writing, the three kinds taking turns (a scanner's grey edge
strip, a book's binding shadow, a copier's black margin strip; ``htr.synth.pages.with_edge``).
Prints

* lines found (box IoU >= 0.5 with the truth, one to one), lines split and merged, and on how
  many pages exactly the page's lines were found (as many lines as it has, each matched);
* page CER (each page's text against its lines' texts joined by newlines) beside the CER of
  the same lines read one by one from their truth-box crops, and the ratio;
* segmentation time for a 2,000 x 1,500 page (the pages resized to that size; median, p95);
* with --single N: how many of N single-line images (IAM On-Line validation lines drawn in
  both looks and IAM dev scans) ``--layout auto`` takes for more than one line.
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from htr.paths import default_model_dir, iam_dir, iam_ondb_dir  # noqa: E402


def main() -> None:
    from htr.synth.pages import PAPERS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ondb", default=str(iam_ondb_dir()))
    parser.add_argument("--iam", default=str(iam_dir()))
    parser.add_argument("--model-dir", default=str(default_model_dir()))
    parser.add_argument("--forms", type=int, default=50, help="IAM On-Line validation forms drawn whole")
    parser.add_argument("--stacked", type=int, default=50, help="pages stacked from IAM dev line images")
    parser.add_argument("--edges", type=int, default=0,
                        help="stacked pages with a scanner edge, binding shadow or margin strip along one side")
    parser.add_argument("--decoder", default="lm")
    parser.add_argument("--single", type=int, default=0, help="single-line images to check --layout auto on")
    parser.add_argument("--no-read", action="store_true", help="segmentation figures only")
    parser.add_argument("--paper", default="plain", choices=PAPERS,
                        help="every page on ruled paper (a rule under each line), a notebook page (rules and a red margin line), or its negative")
    parser.add_argument("--save-examples", help="write a few pages with their found lines outlined here")
    args = parser.parse_args()

    import cv2
    import numpy as np
    from tqdm import tqdm

    from htr.datasets import load_dataset
    from htr.metrics import error_rates
    from htr.progress import Progress
    from htr.segment import segment_lines
    from htr.synth.pages import EDGES, form_pages, match_lines, on_paper, stacked_pages, with_edge

    ondb = load_dataset("iam-ondb", args.ondb, "validation")
    dev = load_dataset("iam", args.iam, str(Path(args.iam) / "splits" / "available-dev.txt"))
    sets = {"forms": form_pages(ondb.samples, args.forms), "stacked": stacked_pages(dev.samples, args.iam, args.stacked)}
    if args.edges:  # other spacings than the stacked set's (seeds from 1000 on), one band each
        plain = stacked_pages(dev.samples, args.iam, args.edges, seed=1000)
        sets["edges"] = [with_edge(page, EDGES[i % len(EDGES)], np.random.default_rng(2000 + i))
                         for i, page in enumerate(plain)]
    sets = {name: [on_paper(page, args.paper) for page in pages] for name, pages in sets.items()}

    recognizer = None
    if not args.no_read:
        from htr import Recognizer
        from htr.page import recognize_page

        recognizer = Recognizer.load(args.model_dir)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    totals = {"truth": 0, "matched": 0, "split": 0, "merged": 0}
    for name, pages in sets.items():
        counts = {"truth": 0, "matched": 0, "split": 0, "merged": 0}
        exact = 0
        refs, page_texts, line_texts = [], [], []
        bar = Progress(len(pages), name)
        for page in pages:
            found = segment_lines(page.image)
            m = match_lines(page.boxes, found.boxes)
            for key in counts:
                counts[key] += getattr(m, key)
            exact += m.matched == m.truth == m.found
            if m.matched < m.truth or m.split or m.merged or m.found != m.truth:
                tqdm.write(f"  {page.name}: {m}")
            if recognizer is not None:
                read = recognize_page(recognizer, page.image, layout="page", decoder=args.decoder)
                alone = recognizer.recognize_batch(page.crops(), decoder=args.decoder)
                refs.append(page.text)
                page_texts.append(read.text)
                line_texts.append("\n".join(r.text for r in alone))
            if args.save_examples and pages.index(page) < 3:
                from htr.page import draw_lines

                out = Path(args.save_examples)
                out.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(out / f"{name}-{page.name.replace('#', '-')}.jpg"),
                            cv2.cvtColor(draw_lines(page.image, found), cv2.COLOR_RGB2BGR))
            bar.update()
        bar.close()
        for key in counts:
            totals[key] += counts[key]
        print(f"{name}: {len(pages)} pages, lines found {counts['matched']}/{counts['truth']} "
              f"({counts['matched'] / max(1, counts['truth']):.2%}), split {counts['split']}, merged {counts['merged']}; "
              f"pages with exactly their lines {exact}/{len(pages)}")
        if recognizer is not None:
            page_cer = error_rates(refs, page_texts)
            line_cer = error_rates(refs, line_texts)
            print(f"  page CER {page_cer.cer:.4f} (WER {page_cer.wer:.4f}); the same lines from their own crops "
                  f"CER {line_cer.cer:.4f} (WER {line_cer.wer:.4f}); ratio {page_cer.cer / max(line_cer.cer, 1e-9):.3f}"
                  f"  [{args.decoder}, {page_cer.chars} chars]")
    print(f"all: lines found {totals['matched']}/{totals['truth']} ({totals['matched'] / max(1, totals['truth']):.2%}), "
          f"split {totals['split']}, merged {totals['merged']}")

    # Speed on a 2,000 x 1,500 page: every test page resized to that size (a phone photo's scale).
    # Wall time suffers from whatever else the machine runs; the process's CPU time (all its
    # threads) is what one free core would take.
    times, cpu = [], []
    for page in [page for pages in sets.values() for page in pages]:
        image = cv2.resize(page.image, (2000, 1500), interpolation=cv2.INTER_AREA)
        segment_lines(image)  # warm caches
        runs, cpu_runs = [], []
        for _ in range(3):
            start, start_cpu = time.perf_counter(), time.process_time()
            segment_lines(image)
            runs.append(time.perf_counter() - start)
            cpu_runs.append(time.process_time() - start_cpu)
        times.append(min(runs))
        cpu.append(min(cpu_runs))
    times, cpu = np.asarray(times), np.asarray(cpu)
    print(f"segmentation of a 2000 x 1500 page: wall median {np.median(times):.3f} s, p95 {np.percentile(times, 95):.3f} s, "
          f"max {times.max():.3f} s; CPU time median {np.median(cpu):.3f} s, p95 {np.percentile(cpu, 95):.3f} s, "
          f"max {cpu.max():.3f} s ({len(times)} pages, best of 3 each; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f})")

    if args.single:
        from htr.imageio import read_image
        from htr.render import render_strokes

        images = []
        for i, sample in enumerate(ondb.samples[: args.single]):
            images.append(render_strokes(sample.strokes, ("canvas", "paper")[i % 2], np.random.default_rng(i)))
        images += [read_image(s.path) for s in dev.samples[: args.single]]
        several = sum(1 for image in images if len(segment_lines(image).lines) > 1)
        print(f"single lines taken for several by --layout auto: {several}/{len(images)} "
              f"({args.single} IAM On-Line validation lines drawn, {min(args.single, len(dev.samples))} IAM dev scans)")


if __name__ == "__main__":
    main()
