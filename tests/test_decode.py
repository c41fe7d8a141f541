import math

import numpy as np
import pytest

from htr.decode import beam_search, best_path, decode

# Classes: 0 = blank, 1 = 'a', 2 = 'b'.


def test_best_path_merges_repeats_and_drops_blanks():
    probs = np.array([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    (labels, score), = best_path(probs).paths
    assert labels == [1, 1, 2]
    assert score == pytest.approx(math.log(0.8 ** 4 * 0.9))


def test_beam_sums_alignments_where_best_path_cannot():
    # Best single frame is blank twice -> empty text, but 'a' or 'b' has total probability
    # 0.3*0.4 + 0.4*0.3 + 0.3*0.3 = 0.33 > 0.16 for the empty string.
    probs = np.array([[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]], np.float32)
    assert best_path(probs).paths[0][0] == []
    paths = beam_search(probs, beam_width=8, top_k=3).paths
    assert sorted(tuple(p[0]) for p in paths[:2]) == [(1,), (2,)]
    assert paths[0][1] == pytest.approx(math.log(0.33), abs=1e-4)
    assert paths[2] == ([], pytest.approx(math.log(0.16), abs=1e-4))


def test_beam_returns_sorted_distinct_alternatives():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=12).astype(np.float32)
    paths = beam_search(probs, beam_width=10, top_k=5).paths
    scores = [s for _, s in paths]
    assert scores == sorted(scores, reverse=True)
    assert len({tuple(l) for l, _ in paths}) == len(paths) == 5


def test_unknown_decoder_is_an_error():
    with pytest.raises(ValueError, match="unknown decoder"):
        decode(np.ones((2, 3)) / 3, "greedy")
