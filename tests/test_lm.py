"""Language-model decoding: the n-gram estimator, the decoder, held-out text, settings and fallbacks."""

import json
import math
import shutil
import warnings
from dataclasses import replace

import numpy as np
import pytest
from conftest import HAVE_ONDB, MODEL_DIR, NO_IAM, NO_ONDB, ONDB, REAL_IAM

from htr.config import IAM_CHARSET, ModelConfig
from htr.decode import best_path, decode
from htr.lm.decoder import LanguageModel, LMSettings, load_for_model
from htr.lm.ngram import BOS, UNK, estimate, token_name

ENGLISH = [
    "the children were playing in the garden",
    "all the children came home for dinner",
    "children like to read and to write",
    "she made the children laugh at the table",
    "the dinner was making them happy",
] * 3


def labels_of(text: str, charset: str = IAM_CHARSET) -> list[int]:
    return [charset.index(c) + 1 for c in text]


def sure_matrix(text: str, sureness: float = 0.97, charset: str = IAM_CHARSET) -> np.ndarray:
    """A network output that reads ``text`` with ``sureness`` on each character, blanks between."""
    classes = len(charset) + 1
    rest = (1 - sureness) / (classes - 1)
    rows = []
    for c in text:
        for label in (labels_of(c, charset)[0], 0):
            row = np.full(classes, rest)
            row[label] = sureness
            rows.append(row)
    return np.asarray(rows, np.float32)


def smudged_children() -> np.ndarray:
    """A network output of "children" with the "r" smudged: 0.4 for it against 0.6 for a blank,
    so best path reads the non-word "childen"."""
    probs = sure_matrix("children", 0.9)
    r_row = 2 * "children".index("r")
    probs[r_row] = 0.0
    probs[r_row, labels_of("r")[0]] = 0.4
    probs[r_row, 0] = 0.6
    return probs


def network_log_prob(probs: np.ndarray, text: str) -> float:
    """The log-probability of ``text`` read as :func:`sure_matrix` lays it out: each letter on its
    frame, a blank after it."""
    aligned = [label for c in labels_of(text) for label in (c, 0)]
    return float(np.log(probs[np.arange(len(probs)), aligned]).sum())


def small_lm(tmp_path, lines=ENGLISH, order=6, **settings) -> LanguageModel:
    path = estimate(lines, order).write_arpa(tmp_path / "chars.arpa.gz")
    return LanguageModel.load(path, IAM_CHARSET, LMSettings(path=path.name, **settings))


# --- the estimator ---------------------------------------------------------


@pytest.mark.parametrize("prune", [None, {3: 2, 4: 3}])
def test_every_context_distribution_sums_to_one(prune):
    model = estimate(ENGLISH + ["a b c", "xyz"], order=4, prune=prune)
    vocab = [s for s in model.probs[1] if s != BOS]
    for history in ["", BOS, BOS + "t", "the", " ch", "ild", "zzz", "q"]:
        total = sum(10 ** model.log10_prob(history, w) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-6), history
    if prune:
        assert model.sizes()[3] < estimate(ENGLISH + ["a b c", "xyz"], order=4).sizes()[3]


def test_kenlm_reads_the_arpa_file_with_the_same_probabilities(tmp_path):
    model = estimate(ENGLISH, order=5)
    lm = LanguageModel.load(model.write_arpa(tmp_path / "m.arpa.gz"), IAM_CHARSET)
    state = lm._kenlm.start(False)
    history = BOS
    for c in "the chqldren":
        state, score = lm._kenlm.score(state, labels_of(c)[0])
        expected = model.log10_prob(history, c if c in model.probs[1] else UNK)
        assert score == pytest.approx(expected, abs=1e-4), (history, c)
        history += c
    assert token_name(" ") == "<space>"


def test_text_with_reserved_characters_is_refused():
    with pytest.raises(ValueError, match="control characters"):
        estimate(["a\tb"], order=2)


# --- decoding ----------------------------------------------------------------


def test_lm_flips_an_ambiguous_reading_to_the_word(tmp_path):
    # "children" with the "r" smudged: the network gives it 0.4 against 0.6 for a blank,
    # so best path reads the non-word "childen"; the LM knows "children".
    probs = smudged_children()
    assert "".join(IAM_CHARSET[i - 1] for i in best_path(probs).paths[0][0]) == "childen"
    lm = small_lm(tmp_path, unknown_word_penalty=0.0)  # the character model alone
    decoded = decode(probs, "lm", beam_width=16, top_k=5, lm=lm)
    texts = ["".join(IAM_CHARSET[i - 1] for i in labels) for labels, _ in decoded.paths]
    assert texts[0] == "children"
    assert "childen" in texts  # the letter-for-letter reading is still an alternative
    scores = [score for _, score in decoded.paths]
    assert scores == sorted(scores, reverse=True)
    # the network's own log-probability of the reading: each letter on its frame, blanks between
    assert decoded.log_prob(0) == pytest.approx(network_log_prob(probs, "children"), abs=1e-3)


def test_lm_weight_zero_reads_like_the_network(tmp_path):
    probs = smudged_children()
    lm = small_lm(tmp_path, weight=0.0, char_bonus=0.0, unknown_word_penalty=0.0)
    labels = decode(probs, "lm", lm=lm).paths[0][0]
    assert "".join(IAM_CHARSET[i - 1] for i in labels) == "childen"


def test_the_dictionary_penalty_ranks_the_beam_that_spells_a_word_first(tmp_path):
    # The smudged "children" again, with the character model switched off: the network alone
    # prefers "childen"; a penalty per word no dictionary holds puts "children" first.
    probs = smudged_children()
    network_only = small_lm(tmp_path, weight=0.0, char_bonus=0.0, unknown_word_penalty=0.0)
    with_dictionary = network_only.with_settings(replace(network_only.settings, unknown_word_penalty=-3.0))

    def readings(lm):
        decoded = decode(probs, "lm", beam_width=16, top_k=5, lm=lm)
        return {network_only.text(labels): score for labels, score in decoded.paths}, decoded

    before, _ = readings(network_only)
    after, decoded = readings(with_dictionary)
    assert next(iter(before)) == "childen" and next(iter(after)) == "children"
    assert after["childen"] == pytest.approx(before["childen"] - 3.0, abs=1e-4)  # one unknown word
    assert after["children"] == pytest.approx(before["children"], abs=1e-4)
    scores = [score for _, score in decoded.paths]
    assert scores == sorted(scores, reverse=True)
    # the network's own log-probability is the reading's, whatever the rank
    assert decoded.log_prob(0) == pytest.approx(network_log_prob(probs, "children"), abs=1e-3)


@pytest.mark.parametrize("name", ["Zbyqxw Kvothe", "Mr. Qjolvyx paid 4,381"])
def test_a_name_the_lm_never_read_decodes_letter_for_letter(name, shipped_lm):
    assert shipped_lm is not None, "the shipped model has a language model"
    probs = sure_matrix(name, 0.97)
    labels = decode(probs, "lm", beam_width=16, top_k=5, lm=shipped_lm).paths[0][0]
    assert "".join(IAM_CHARSET[i - 1] for i in labels) == name


def test_shipped_lm_reads_real_words_where_best_path_does_not(shipped_lm, recognizer, ondb_validation):
    """On real validation lines the shipped LM turns more words right than it turns wrong."""
    from htr.metrics import error_rates
    from htr.render import render_strokes

    samples = ondb_validation.samples[:12]
    images = [render_strokes(s.strokes, "canvas", np.random.default_rng(i)) for i, s in enumerate(samples)]
    best = [r.text for r in recognizer.recognize_batch(images, decoder="best")]
    with_lm = recognizer.recognize_batch(images, decoder="lm", top_k=3)
    truth = [s.text for s in samples]
    assert error_rates(truth, [r.text for r in with_lm]).wer < error_rates(truth, best).wer
    for r in with_lm:
        assert r.decoder == "lm" and 1 <= len(r.alternatives) <= 3 and 0 < r.confidence <= 1
        assert r.alternatives[0].text == r.text
        assert [a.score for a in r.alternatives] == sorted((a.score for a in r.alternatives), reverse=True)
        assert r.to_json()["alternatives"][0].keys() == {"text", "score", "log_prob"}


def test_decoding_with_lm_but_without_a_model_is_an_error():
    with pytest.raises(ValueError, match="needs a language model"):
        decode(np.full((3, 80), 1 / 80, np.float32), "lm")


# --- missing, corrupt and misconfigured LM files --------------------------------


@pytest.fixture(scope="module")
def shipped_lm():
    config = ModelConfig.load(MODEL_DIR)
    lm, error = load_for_model(MODEL_DIR, config)
    assert error is None, error
    return lm


def model_copy(tmp_path):
    """A model folder's config and LM (no weights: the LM loads without Keras)."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(MODEL_DIR / "config.json", folder / "config.json")
    shutil.copytree(MODEL_DIR / "lm", folder / "lm")
    return folder, ModelConfig.load(folder)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "not found"),
    (lambda p: p.write_bytes(p.read_bytes()[:200_000]), "corrupt"),
    (lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n not a language model"), "cannot be read"),
    (lambda p: p.write_bytes(__import__("gzip").compress(b"hello world\n")), "not an ARPA file"),
    (lambda p: p.write_bytes(__import__("gzip").compress(b"\\data\\\nngram 1=5\n\n\\1-grams:\n-1\ta\n\\end\\\n")),
     "corrupt"),
])
def test_broken_lm_file_warns_and_leaves_no_lm(tmp_path, damage, message):
    folder, config = model_copy(tmp_path)
    damage(folder / LMSettings.from_dict(config.lm).path)
    with pytest.warns(UserWarning, match=message) as record:
        lm, error = load_for_model(folder, config)
    assert lm is None and message in error
    assert "falls back to beam search" in str(record[0].message)


def test_bad_lm_settings_warn_and_leave_no_lm(tmp_path):
    folder, config = model_copy(tmp_path)
    config.lm["weight"] = "heavy"
    with pytest.warns(UserWarning, match="lm.weight"):
        lm, _ = load_for_model(folder, config)
    assert lm is None


def test_a_model_without_lm_has_none_silently(tmp_path):
    folder, config = model_copy(tmp_path)
    shutil.rmtree(folder / "lm")
    config.lm = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lm, error = load_for_model(folder, config)
    assert lm is None and "has no language model" in error


def test_recognizer_falls_back_to_beam_search_with_a_warning(recognizer, ondb_validation):
    from htr.recognizer import Recognizer
    from htr.render import render_strokes

    image = render_strokes(ondb_validation.samples[0].strokes, "canvas", np.random.default_rng(0))
    without = Recognizer(recognizer.model, recognizer.config, recognizer.model_dir, lm=None,
                         lm_error="language model model/lm/chars.arpa.gz is corrupt: bad header")
    with pytest.warns(UserWarning, match="is corrupt: bad header.*beam search"):
        result = without.recognize(image, decoder="lm")
    assert result.decoder == "beam"
    assert result.text == recognizer.recognize(image, decoder="beam").text


# --- held-out text never reaches the LM ------------------------------------------


def fake_iam(root, lines: dict[str, str], splits: dict[str, list[str]]):
    (root / "ascii").mkdir(parents=True)
    rows = [f"{i} ok 154 19 408 746 1661 89 {text.replace(' ', '|')}" for i, text in lines.items()]
    (root / "ascii" / "lines.txt").write_text("# header\n" + "\n".join(rows) + "\n")
    (root / "splits").mkdir()
    for name, ids in splits.items():
        (root / "splits" / name).write_text("\n".join(ids) + "\n")
    return root


def test_builder_drops_held_out_ids_their_other_writers_and_overlapping_text(tmp_path):
    from htr.lm.corpus import collect

    lines = {
        "a01-000u-00": "a line that only training has",
        "a01-000u-01": "the validation text is here today",  # id held out below
        "a01-000x-00": "another writer of the validation form",  # same text a01-000 as a held-out form
        "b02-003-00": "prefix the validation text is here again",  # shares 5 words with a held-out line
        "c03-004-00": "a test line",
        "d04-005-00": "a dev line kept out by --exclude",
        "e05-006-00": "ordinary training words",
    }
    root = fake_iam(tmp_path / "iam", lines, {
        "trainset.txt": ["a01-000u-00", "a01-000u-01", "a01-000x-00", "b02-003-00", "d04-005-00", "e05-006-00"],
        "validationset1.txt": ["a01-000u-01"],
        "testset.txt": ["c03-004-00"],
    })
    exclude = tmp_path / "dev.txt"
    exclude.write_text("d04-005-00\n")
    text = collect(iam=root, exclude=[exclude])
    assert sorted(text.ids) == ["iam:e05-006-00"]
    assert text.lines == ["ordinary training words"]
    assert text.report()["iam"] == {"kept": 1, "held-out id": 2, "same text as a held-out form": 2,
                                   "shares 5 words with a held-out line": 1}


def test_shipped_builder_keeps_every_validation_and_test_line_out():
    """On the real databases: no validation or test id, form or 5-word run is in the LM text."""
    if not HAVE_ONDB:
        pytest.skip(NO_ONDB)
    if not (REAL_IAM / "ascii" / "lines.txt").is_file():
        pytest.skip(NO_IAM)
    IAM = REAL_IAM
    from htr.datasets.base import form_key, read_split_ids
    from htr.datasets.iam import parse_lines_txt
    from htr.datasets.iam_ondb import load_transcriptions
    from htr.lm.corpus import _word_runs, collect

    text = collect(IAM, ONDB)
    iam_texts, ondb_texts = parse_lines_txt(IAM / "ascii" / "lines.txt"), load_transcriptions(ONDB)
    held = {f"iam:{i}" for name in ("validationset1", "validationset2", "testset", "available-dev")
            for i in read_split_ids(IAM / "splits" / f"{name}.txt")}
    held |= {f"iam-ondb:{i}" for i in read_split_ids(ONDB / "splits" / "validation.txt")}
    assert len(held) > 5000
    assert not held & set(text.ids)
    held_keys = {(i.split(":")[0], form_key(i.split(":")[1])) for i in held}
    assert not held_keys & {(i.split(":")[0], form_key(i.split(":")[1])) for i in text.ids}
    held_texts = [(iam_texts if i.startswith("iam:") else ondb_texts).get(i.split(":")[1], "") for i in held]
    held_runs = set().union(*(_word_runs(t, 5) for t in held_texts))
    assert not any(_word_runs(line, 5) & held_runs for line in text.lines)
    training = set(read_split_ids(IAM / "splits" / "trainset.txt")) | set(read_split_ids(ONDB / "splits" / "train.txt"))
    assert {i.split(":")[1] for i in text.ids} <= training
    assert len(text.lines) > 10_000


def test_shipped_lm_manifest_names_its_sources():
    manifest = json.loads((MODEL_DIR / "lm" / "lm.json").read_text())
    assert set(manifest["sources"]) == {"iam", "iam-ondb"}
    assert manifest["order"] == 6 and manifest["lines"] > 10_000
    assert any(path.endswith("available-dev.txt") for path in manifest["held_out_lists"])
    assert any(path.endswith("validation.txt") for path in manifest["held_out_lists"])


# --- settings in config.json ---------------------------------------------------------


def test_writing_lm_settings_keeps_every_other_config_field(tmp_path):
    from htr.lm.tune import write_settings

    folder = tmp_path / "model"
    folder.mkdir()
    original = json.loads((MODEL_DIR / "config.json").read_text())
    original.pop("lm", None)  # a config from before LM decoding
    (folder / "config.json").write_text(json.dumps(original, indent=2) + "\n")
    assert ModelConfig.load(folder).lm == {}
    write_settings(folder, LMSettings(weight=2.25, char_bonus=0.5, word_bonus=-1.0))
    written = json.loads((folder / "config.json").read_text())
    assert {k: v for k, v in written.items() if k != "lm"} == original
    assert written["lm"]["weight"] == 2.25 and written["lm"]["path"] == "lm/chars.arpa.gz"
    assert LMSettings.from_dict(ModelConfig.load(folder).lm).word_bonus == -1.0


def test_tuning_finds_a_weight_that_helps(tmp_path):
    from htr.lm.tune import TuneSet, tune

    rng = np.random.default_rng(0)
    probs, texts = [], []
    for line in ENGLISH[:5]:
        m = sure_matrix(line, 0.9)
        for row in rng.choice(np.flatnonzero(np.argmax(m, axis=1) > 1), 2, replace=False):
            label = int(np.argmax(m[row]))
            m[row, :] = 0.2 / 79
            m[row, label], m[row, 0] = 0.35, 0.45  # a smudged letter: blank is likelier
        probs.append(m)
        texts.append(line)
    lm = small_lm(tmp_path, weight=0.0, char_bonus=0.0)
    sets = [TuneSet("toy", probs, texts, IAM_CHARSET)]
    assert sets[0].baseline.cer > 0
    settings, objective, rates = tune(lm, sets, grid={"weight": [0.0, 1.0, 2.0], "char_bonus": [0.0, 1.0]},
                                      report=lambda line: None)
    assert settings.weight > 0 and objective < 1 and rates["toy"].cer < sets[0].baseline.cer
    assert math.isfinite(objective)


# --- command line -------------------------------------------------------------------


def test_cli_builds_an_lm_into_a_model_folder_and_records_it(tmp_path):
    from test_cli import htr

    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(MODEL_DIR / "config.json", folder / "config.json")
    before = json.loads((folder / "config.json").read_text())
    corpus = tmp_path / "english.txt"
    corpus.write_text("\n".join(ENGLISH) + "\n\n")
    result = htr("lm", "build", "--out", folder / "lm", "--text", corpus, "--order", "4", "--prune", "4:2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "15 lines kept" in result.stdout and "recorded in" in result.stdout
    manifest = json.loads((folder / "lm" / "lm.json").read_text())
    assert manifest["order"] == 4 and manifest["sources"] == {"text:english.txt": {"kept": 15}}
    after = json.loads((folder / "config.json").read_text())
    assert after["lm"]["path"] == "lm/chars.arpa.gz"
    assert {k: v for k, v in after.items() if k != "lm"} == {k: v for k, v in before.items() if k != "lm"}
    lm, error = load_for_model(folder, ModelConfig.load(folder))
    assert error is None and lm.path == folder / "lm" / "chars.arpa.gz"

    bad = htr("lm", "build", "--out", tmp_path / "x", "--order", "9", "--text", corpus)
    assert bad.returncode != 0 and "order" in bad.stderr and "Traceback" not in bad.stderr
    missing = htr("lm", "build", "--out", tmp_path / "x", "--iam", tmp_path / "nowhere")
    assert missing.returncode == 2 and "lines.txt is missing" in missing.stderr


def test_cli_predicts_with_the_lm_by_default_and_validates_a_half(tmp_path, ondb_validation):
    from conftest import write_png
    from test_cli import htr

    from htr.datasets.base import line_part
    from htr.render import render_strokes

    path = write_png(tmp_path / "line.png", render_strokes(ondb_validation.samples[0].strokes, "canvas"))
    result = htr("predict", path, "--json", "--top-k", "3")
    assert result.returncode == 0, result.stderr[-2000:]
    (line,) = [json.loads(row) for row in result.stdout.splitlines()]
    assert line["decoder"] == "lm" and line["alternatives"][0]["text"] == line["text"]
    assert all(set(a) == {"text", "score", "log_prob"} for a in line["alternatives"])

    summary = htr("validate", "--data", ONDB, "--limit", "6", "--part", "report", "--json")
    assert summary.returncode == 0, summary.stderr[-2000:]
    data = json.loads(summary.stdout)
    report_lines = sum(line_part(s.id) == "report" for s in ondb_validation.samples)
    assert data["decoder"] == "lm" and data["part"] == "report" and data["lines"] == min(6, report_lines)
    assert sum(line_part(s.id) == "report" for s in ondb_validation.samples) < len(ondb_validation.samples)
