"""Are IAM On-Line's validation writers new to the model? Its forms, grouped by when they were written.

The data set ships no writer per form, and its validation split is by text (whole text folders),
not by writer. Each form's lines carry the recorder's pen-down times, so the forms can be put in
the order they were written and cut into rounds (:func:`htr.datasets.iam_ondb.writing_rounds`):
one text of each category a few minutes apart, 7 or 8 forms, as one writer's sitting. Prints
how the rounds look, how many training forms share a round with each validation form, and the
rounds of the forms the adaptation benchmark reports.

    python benchmarks/pen_writers.py [--iam-ondb ../shared/data/iam-ondb] [--forms a09-583z,...]
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from pathlib import Path

from htr.datasets.base import read_split_ids
from htr.datasets.iam_ondb import form_start_times, writing_rounds
from htr.paths import iam_ondb_dir

# The 8 IAM On-Line validation forms with the most lines: those benchmarks/adapt.py reports.
REPORTED = "a09-583z,d09-664z,d09-674z,f09-492z,h09-351z,h09-370z,j09-437z,n09-160z"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iam-ondb", default=str(iam_ondb_dir()))
    parser.add_argument("--forms", default=REPORTED, help="show the rounds of these forms")
    parser.add_argument("--max-gap", type=float, default=900.0, help="seconds between forms that end a round")
    args = parser.parse_args(argv)
    root = Path(args.iam_ondb)
    split_of, lines_of = {}, Counter()
    for split in ("train", "validation"):
        for line_id in read_split_ids(root / "splits" / f"{split}.txt"):
            form = line_id.rsplit("-", 1)[0]
            split_of[form] = split
            lines_of[form] += 1
    times = form_start_times(root)
    rounds = writing_rounds(times, args.max_gap)
    sizes = Counter(len(r) for r in rounds)
    gaps = [times[b] - times[a] for r in rounds for a, b in zip(r, r[1:])]
    print(f"{len(times)} forms in {len(rounds)} rounds; forms a round: "
          + ", ".join(f"{size}: {count}" for size, count in sorted(sizes.items())))
    print(f"within a round the next form began a median {statistics.median(gaps) / 60:.1f} min later "
          f"(90 % within {sorted(gaps)[int(0.9 * (len(gaps) - 1))] / 60:.1f} min)")
    shared = Counter()
    for r in rounds:
        train = sum(split_of.get(f) == "train" for f in r)
        for f in r:
            if split_of.get(f) == "validation":
                shared[train] += 1
    total = sum(shared.values())
    print(f"validation forms: {total}; training forms in the same round: "
          + ", ".join(f"{n}: {count}" for n, count in sorted(shared.items())))
    print(f"validation forms alone in their round (no training form): {shared.get(0, 0)}")
    wanted = set(args.forms.split(",")) if args.forms else set()
    for r in rounds:
        if wanted & set(r):
            cells = [f"{f} ({split_of.get(f, '-')}, +{(times[f] - times[r[0]]) / 60:.0f} min)" for f in r]
            trained = sum(lines_of[f] for f in r if split_of.get(f) == "train")
            print(" -> ".join(cells) + f": {trained} training lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
