"""Preset accuracy targets: every shipped preset has one, relative targets
point at shipped presets, and the cards and tables report the status the
metadata gives."""

import pytest

from relaxed_keras.zoo import list_presets
from relaxed_keras.zoo import load_metadata
from relaxed_keras.zoo import targets


def test_every_preset_has_a_target_and_references_exist():
    names = set(list_presets())
    assert set(targets.TARGETS) == names
    for target in targets.TARGETS.values():
        if "reference" in target:
            assert target["reference"] in names
    assert set(targets.SHORTFALL_NOTES) <= names


def test_relative_target_follows_the_reference_metadata():
    strict = load_metadata("p4cnn_strict_fashion_mnist")["test_accuracy"]
    threshold, how, exact = targets.target_for("p4cnn_relaxed_fashion_mnist")
    assert threshold == pytest.approx(strict - 0.3) and not exact
    assert "p4cnn_strict_fashion_mnist" in how


@pytest.mark.parametrize("accuracy, met, words", [
    (92.5, True, ": met"), (92.09, True, ": met"), (91.79, False, "(-0.30)"),
])
def test_status_against_a_relative_target(accuracy, met, words, monkeypatch):
    monkeypatch.setitem(targets.TARGETS, "x", {"reference": "p4cnn_strict_fashion_mnist",
                                               "offset": -0.3})
    monkeypatch.setattr(targets.presets_lib, "load_metadata",
                        lambda name: {"test_accuracy": 92.39})
    result = targets.check_target("x", accuracy)
    assert result["met"] is met and result["threshold"] == 92.09
    assert words in targets.describe("x", accuracy)


def test_exact_target_fails_both_ways():
    assert targets.check_target("p4cnn_strict_mnist6_180", 50.0)["met"]
    assert not targets.check_target("p4cnn_strict_mnist6_180", 51.0)["met"]
    assert not targets.check_target("p4cnn_strict_mnist6_180", 49.0)["met"]
    assert targets.describe("not_a_preset", 10.0) == "-"


def test_cards_show_the_status_of_their_metadata():
    from relaxed_keras.zoo.cards import render_model_card

    for name in ("p4cnn_strict_fashion_mnist", "p4cnn_relaxed_fashion_mnist"):
        meta = load_metadata(name)
        card = render_model_card(meta)
        assert targets.describe(name, meta["test_accuracy"]) in card
