"""The figures: Hangul (and other scripts DejaVu Sans lacks) drawn with a font that has them, found without
changing matplotlib's global settings; one clear warning when no font has them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")


def test_hangul_labels_get_a_font_with_hangul_and_no_global_setting_changes(tmp_path):
    pytest.importorskip("koreanize_matplotlib")  # the extra attncore[korean] (and the test extra)
    from matplotlib import font_manager, ft2font

    from attncore.plots import label_fonts, plot_attention

    fonts = {k: v for k, v in matplotlib.rcParams.items() if k.startswith("font.")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "shows as boxes" warning
        families = label_fonts(["구만 팔천칠백육십오", "ninety-eight thousand"])
        assert families is not None and families[0] == "DejaVu Sans"
        path = font_manager.findfont(font_manager.FontProperties(family=families[1]))
        assert {ord(c) for c in "구만팔천칠백육십오"} <= set(ft2font.FT2Font(path).get_charmap())
        plot_attention(
            [(list("구만팔천"), ["ninety", "eight", "thousand", "</s>"], np.full((4, 4), 0.25), True)],
            tmp_path / "attention.png",
        )
    assert (tmp_path / "attention.png").read_bytes()[:4] == b"\x89PNG"
    assert {k: v for k, v in matplotlib.rcParams.items() if k.startswith("font.")} == fonts
    assert label_fonts(["plain ascii"]) is None


def test_no_font_with_the_glyphs_is_one_warning_naming_the_extra_and_the_cache(monkeypatch):
    from matplotlib import font_manager

    from attncore import plots

    monkeypatch.setattr(plots, "font_files", lambda: [])
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [])
    with pytest.warns(UserWarning) as seen:
        assert plots.label_fonts(["구만"]) is None
    assert len(seen) == 1
    text = str(seen[0].message)
    assert "attncore[korean]" in text and matplotlib.get_cachedir() in text
