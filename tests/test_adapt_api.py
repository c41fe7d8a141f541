"""The /adapt API with photos of lines, and reading with the personal model it returns.

The parsing tests train nothing; the end-to-end one runs the tiniest adaptation there is.
"""

import base64
import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, WRITER_TEXTS
from conftest import WRITER_LINES as LINES

from htr.errors import ModelLoadError
from htr.imageio import decode_image, encode_png, read_image_file
from htr.train.adapt import AdaptInputError, AdaptSettings
from htr.train.teach import MODEL_ID, parse_lines, personal_folder

TEXTS = dict(list(WRITER_TEXTS.items())[:3])  # the fewest lines adapting takes
# One epoch of one rendering per line; no guard, so the personal model's weights surely moved.
TINY = AdaptSettings(epochs=1, copies=1, batch_size=4, minutes=None, holdout=0.25, folds=0, guard=False)


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def image_lines() -> list[dict]:
    return [{"text": text, "image": b64(LINES / f"{line_id}.png")} for line_id, text in TEXTS.items()]


def test_image_lines_are_decoded_as_uploads_are():
    png = LINES / "a03-011-00.png"
    items = image_lines()
    items.append({"text": "a data URL", "image": f"data:image/png;base64,{b64(png)}"})
    items.append({"text": "a drawn line", "strokes": [[[0, 0, 0], [10, 30, 16]]]})
    lines = parse_lines(json.dumps({"lines": items}))
    assert [l.text for l in lines] == [*TEXTS.values(), "a data URL", "a drawn line"]
    assert np.array_equal(lines[0].image, read_image_file(png)) and lines[0].strokes is None
    assert np.array_equal(lines[3].image, read_image_file(png))
    assert lines[4].image is None and lines[4].strokes == [[[0.0, 0.0], [10.0, 30.0]]]


def test_bad_image_lines_are_each_named():
    items = image_lines()
    items[1]["image"] = "this is not base64!"
    items.append({"text": "not an image", "image": base64.b64encode(b"plain text, no picture").decode()})
    items.append({"text": "both", "image": b64(LINES / "a03-011-00.png"), "strokes": [[[0, 0], [5, 9]]]})
    items.append({"text": "neither"})
    items.append({"text": " ", "image": b64(LINES / "a03-011-00.png")})
    with pytest.raises(AdaptInputError) as caught:
        parse_lines({"lines": items})
    problems = caught.value.problems
    assert len(problems) == 5, problems
    assert problems[0].startswith("line 2:") and "not valid base64" in problems[0]
    assert problems[1].startswith("line 4:") and "not a readable image" in problems[1]
    assert problems[2].startswith("line 5:") and "not both" in problems[2]
    assert problems[3].startswith("line 6:") and "got neither" in problems[3]
    assert problems[4].startswith("line 7:") and "text is missing or empty" in problems[4]
    with pytest.raises(AdaptInputError, match="expected JSON"):
        parse_lines("not json")


def test_rgba_images_keep_their_colours_through_png():
    image = np.zeros((8, 8, 4), np.uint8)
    image[..., 0], image[..., 3] = 200, 255  # red, opaque
    assert np.array_equal(decode_image(encode_png(image)), image)


def test_a_model_id_names_only_a_personal_model_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="no personal model id"):
        personal_folder(tmp_path, "../model")
    with pytest.raises(ModelLoadError, match="no personal model personal-"):
        personal_folder(tmp_path, "personal-" + "0" * 32)
    (tmp_path / ("personal-" + "a" * 32)).mkdir()
    (tmp_path / ("personal-" + "a" * 32) / "config.json").write_text("{}")
    assert personal_folder(tmp_path, "personal-" + "a" * 32) == tmp_path / ("personal-" + "a" * 32)


def test_adapt_with_image_lines_then_read_with_the_returned_model_id(monkeypatch, tmp_path):
    import gradio as gr

    import app
    from htr import Recognizer
    from htr.page import read_page_image
    from htr.train.teach import adapt_lines

    monkeypatch.setattr(app, "adapt_lines", partial(adapt_lines, settings=TINY))
    monkeypatch.setattr(app, "PERSONAL_DIR", tmp_path)
    with pytest.raises(gr.Error, match="line 2: the image is not valid base64"):
        app.adapt_api(json.dumps({"lines": [*image_lines()[:1], {"text": "x", "image": "%%"}]}))

    archive, figures = app.adapt_api(json.dumps({"lines": image_lines()}))
    model_id = figures["model_id"]
    assert MODEL_ID.fullmatch(model_id) and Path(archive) == tmp_path / f"{model_id}.zip"
    assert len(figures["train_lines"]) + len(figures["heldout_lines"]) == 3
    folder = tmp_path / model_id

    line = LINES / "a03-011-05.png"
    personal, base = Recognizer.load(folder, threads=1), Recognizer.load(ROOT / "model", threads=1)  # as the app
    expected = personal.recognize(line, decoder="lm")
    text, _, confidence, *_ = app.recognize(str(line), "lm", 16, 5, False, model_id)
    assert text == expected.text and confidence == round(float(expected.confidence), 4)
    assert not np.allclose(expected.probabilities, base.recognize(line, decoder="lm").probabilities, atol=1e-4)
    assert app.get_recognizer(model_id) is app.get_recognizer(model_id) is not app.get_recognizer()
    page_text, *_ = app.recognize_page_api(str(line), "lm", 16, 5, False, model_id)
    assert page_text == read_page_image(personal, str(line), "lm", 16, 5, False).page.text
    # Without a model_id: the base model, as before.
    text, *_ = app.recognize(str(line), "lm", 16, 5, False)
    assert text == base.recognize(line, decoder="lm").text

    unknown = "personal-" + "f" * 32
    for call in (lambda: app.recognize(str(line), "lm", 16, 5, False, unknown),
                 lambda: app.recognize_strokes('{"strokes": [[[0, 0], [5, 9]]]}', "lm", 16, 5, False, unknown),
                 lambda: app.recognize_page_api(str(line), "lm", 16, 5, False, unknown)):
        with pytest.raises(gr.Error, match=f"no personal model {unknown}"):
            call()
