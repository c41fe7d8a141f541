"""CER and WER of every decoder on the validation sets, on both halves and in all.

Reads each line once and decodes the same network output with best path, beam search and
the language model (and each with spelling correction), so the figures equal
``python -m htr validate --decoder D [--part P] [--correct]`` for the same model and data
and take a fraction of the time. The ``tune`` half is what ``python -m htr lm tune`` chose
the LM settings on; the ``report`` half was not used for choosing anything.

    python benchmarks/decoders.py [--model-dir model] [--iam-ondb ../shared/data/iam-ondb] \\
        [--iam ../shared/data/iam --iam-split ../shared/data/iam/splits/available-dev.txt] [--limit N] [--json FILE]
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from htr.decode import BEAM_WIDTH  # noqa: E402
from htr.train.evaluate import add_validation_set_options  # noqa: E402


def change(rate: float, best_path: float) -> str:
    """A rate against best path's, in per cent; "-" where best path made no error (a few lines)."""
    return f"{100 * (rate / best_path - 1):+.1f} %" if best_path else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    add_validation_set_options(parser)
    parser.add_argument("--beam-width", type=int, default=BEAM_WIDTH)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    from htr.decode import decode
    from htr.recognizer import Recognizer
    from htr.spelling import correct
    from htr.train.evaluate import prepare_validation_sets, probabilities, rates_by_part

    recognizer = Recognizer.load(args.model_dir)
    config = recognizer.config
    if recognizer.lm is None:
        raise SystemExit(f"no language model: {recognizer.lm_error}")
    print(f"model {args.model_dir}, LM {recognizer.lm.path}: {recognizer.lm.settings.to_dict() | {'tuned': '...'}}")
    rows = []
    for name, prepared in prepare_validation_sets(config, args.iam_ondb, args.iam, args.iam_split, args.limit):
        probs = probabilities(recognizer.model, config, prepared.images, label=f"reading {name}")
        for decoder in ("best", "beam", "lm"):
            start = time.perf_counter()
            texts = [config.decode(decode(p, decoder, args.beam_width, 1, lm=recognizer.lm).paths[0][0]) for p in probs]
            seconds = time.perf_counter() - start
            fixed = [correct(t) for t in texts]
            by_part = {corrected: rates_by_part(prepared.texts, hyps, prepared.ids)
                       for corrected, hyps in ((False, texts), (True, fixed))}
            for part in ("all", "tune", "report"):
                for corrected in (False, True):
                    rates = by_part[corrected][part]
                    rows.append({"set": name, "part": part, "decoder": decoder, "correct": corrected,
                                 "cer": rates.cer, "wer": rates.wer, "lines": rates.lines,
                                 "decode_ms_per_line": 1000 * seconds / max(1, len(probs))})
    base = {(r["set"], r["part"]): r for r in rows if r["decoder"] == "best" and not r["correct"]}
    print("\n| set | part | lines | decoder | CER | WER | CER vs best | WER vs best |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        b = base[(r["set"], r["part"])]
        label = {"best": "best path", "beam": "beam search", "lm": "language model"}[r["decoder"]]
        label += " + spelling" if r["correct"] else ""
        print(f"| {r['set']} | {r['part']} | {r['lines']} | {label} | {100 * r['cer']:.2f} % | {100 * r['wer']:.1f} % "
              f"| {change(r['cer'], b['cer'])} | {change(r['wer'], b['wer'])} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
