"""Long loops show their progress in the unit they count."""

import io

from htr.progress import Progress


def test_a_bar_counts_in_its_own_unit_from_its_first_line():
    stream = io.StringIO()
    bar = Progress(4, "adapting", stream=stream, unit="step")
    for _ in range(4):
        bar.update()
    bar.close()
    written = stream.getvalue()
    assert "adapting" in written and "4/4" in written
    assert "step" in written and "line" not in written


def test_a_bar_counts_lines_unless_told_otherwise():
    stream = io.StringIO()
    bar = Progress(2, "reading", stream=stream)
    bar.update(2)
    bar.close()
    assert "line" in stream.getvalue()
