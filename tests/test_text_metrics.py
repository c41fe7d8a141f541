import pytest

from htr.metrics import error_rates, line_cer
from htr.text import detokenize, normalize_for_scoring


@pytest.mark.parametrize(
    "tokenised, written",
    [
        ("A MOVE to stop Mr . Gaitskell", "A MOVE to stop Mr. Gaitskell"),
        ('" Yes , " he said', '"Yes," he said'),
        ("it 's ( really ) fine .", "it's (really) fine."),
        ("don 't say ' hi ' now", "don't say 'hi' now"),
        ("M Ps tomorrow", "M Ps tomorrow"),
        ("Why ? Because !", "Why? Because!"),
    ],
)
def test_detokenize(tokenised, written):
    assert detokenize(tokenised) == written


def test_scoring_ignores_spacing_around_punctuation():
    assert normalize_for_scoring("Mr . Gaitskell") == normalize_for_scoring("Mr. Gaitskell")
    assert normalize_for_scoring('" Yes , " he') == normalize_for_scoring('"Yes," he')
    assert normalize_for_scoring("a  b") == "a b"


def test_corpus_level_rates_sum_distances():
    rates = error_rates(["abcd", "ef"], ["abcd", "xy"])
    assert rates.char_errors == 2 and rates.chars == 6
    assert rates.cer == pytest.approx(2 / 6)
    assert rates.wer == pytest.approx(1 / 2)


def test_wer_counts_word_edits():
    rates = error_rates(["the cat sat"], ["the bat sat down"])
    assert rates.word_errors == 2 and rates.words == 3


def test_line_cer():
    assert line_cer("Mr . Gaitskell", "Mr. Gaitskell") == 0
    assert line_cer("abc", "") == 1


def test_rates_by_part_scores_each_half_and_the_whole_set():
    from htr.datasets.base import line_part
    from htr.train.evaluate import rates_by_part

    ids = [f"b0{n}-0{k:02d}-0{j}" for n in range(1, 5) for k in range(10) for j in range(2)]
    halves = [line_part(i) for i in ids]
    assert {"tune", "report"} <= set(halves)
    references = ["the cat sat"] * len(ids)
    hypotheses = ["the cat sat" if half == "tune" else "the bat sat" for half in halves]
    rates = rates_by_part(references, hypotheses, ids)
    assert rates["tune"].cer == 0.0 and rates["report"].cer == pytest.approx(1 / 11)
    assert rates["all"].cer == pytest.approx(halves.count("report") / len(ids) / 11)
    assert rates["tune"].lines + rates["report"].lines == rates["all"].lines == len(ids)
