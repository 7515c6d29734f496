"""What a user watches: the progress bar fits 80 columns, and metrics of
terms that the options switch off are not shown (History included)."""

import contextlib
import io
import re

import keras
import pytest

from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _printed_lines(model, verbose, callbacks=None, n=64):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        history = model.fit(toy_batch_dict(n=n), batch_size=16, epochs=2, verbose=verbose,
                            callbacks=callbacks).history
    return _screen_lines(_ANSI.sub("", out.getvalue())), history


def _screen_lines(text):
    """The lines a terminal shows for ``text`` (Keras' bar rewrites itself
    with carriage returns or backspaces): each rewrite counts as a line."""
    lines, line, column = [], [], 0
    for char in text:
        if char in "\r\n":
            lines.append("".join(line).rstrip())
            line, column = ([], 0) if char == "\n" else (line, 0)
            if char == "\r":
                line = []
        elif char == "\b":
            column = max(0, column - 1)
        else:
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
    lines.append("".join(line).rstrip())
    return [line for line in lines if line.strip()]


@pytest.mark.parametrize("verbose", [1, 2])
def test_the_progress_bar_fits_80_columns_and_history_keeps_every_metric(verbose):
    model = tiny_model(queue_size=16, online_probe=True)
    model.compile(optimizer="adam")
    lines, history = _printed_lines(model, verbose)
    steps = [line for line in lines if "/step" in line]
    assert steps and max(len(line) for line in steps) <= 80, max(steps, key=len)
    assert "pl_acc" in steps[-1] and "loss" in steps[-1]
    for key in ("l_augm", "l_sempos", "probe_accuracy", "labelled_knn_accuracy"):
        assert key in history, key


def test_keras_own_progress_bar_is_used_when_given():
    model = tiny_model(queue_size=16)
    model.compile(optimizer="adam")
    lines, _ = _printed_lines(model, 1, callbacks=[keras.callbacks.ProgbarLogger()])
    assert any("labelled_knn_accuracy" in line for line in lines)


@pytest.mark.parametrize("options,hidden,shown", [
    ({}, {"i_sempos"}, {"i_augm", "l_sempos", "pseudo_label_accuracy"}),
    ({"invariance_on_semantic_positives": True}, set(), {"i_sempos", "i_augm"}),
    ({"lambda_invariance": 0.0}, {"i_augm", "i_sempos"}, {"l_sempos"}),
    ({"semantic_positives": False},
     {"l_sempos", "i_sempos", "pseudo_label_accuracy", "pseudo_label_coverage",
      "labelled_knn_accuracy", "semantic_positive_precision"}, {"l_augm", "i_augm"}),
])
def test_metrics_of_switched_off_terms_are_not_logged(options, hidden, shown):
    model = tiny_model(queue_size=16, **options)
    model.compile(optimizer="adam")
    history = model.fit(toy_batch_dict(n=32), batch_size=16, epochs=1, verbose=0).history
    assert not hidden & set(history), hidden & set(history)
    assert shown <= set(history), shown - set(history)
