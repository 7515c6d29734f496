"""Saving a Keras `History` as JSON, and reading it (or a `CSVLogger` file) back.

A model's history lives next to it: `history_path_for_model` maps
``runs/semppl_digits.keras`` to ``runs/semppl_digits.history.json``, where
`semppl train` writes it and `semppl plot --model` looks for it.
"""

import csv
import json
import math
import os

from keras_semppl.io.atomic import write_text


def _clean(value):
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def history_path_for_model(model_path):
    """The history file that belongs to a saved model.

    ``DIR/NAME.keras`` -> ``DIR/NAME.history.json``; a path without the
    ``.keras`` suffix gets ``.history.json`` appended.
    """
    model_path = os.fspath(model_path)
    stem = model_path[:-len(".keras")] if model_path.endswith(".keras") else model_path
    return stem + ".history.json"


def save_history_json(history, path):
    """Writes ``{metric: [one value per epoch]}`` (NaN -> null) to ``path``.

    Args:
        history: a `keras.callbacks.History` (what `fit` returns) or its dict.
    """
    logs = getattr(history, "history", history)
    data = {key: [_clean(v) for v in values] for key, values in logs.items()}
    return write_text(path, json.dumps(data, indent=1))


def load_history(path):
    """``{metric: [float per epoch]}`` from a JSON history or a `CSVLogger` CSV.

    Nulls and empty cells become NaN; a CSV's ``epoch`` column is dropped.
    """
    if str(path).lower().endswith(".csv"):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        keys = [k for k in (rows[0].keys() if rows else []) if k != "epoch"]
        return {k: [float(r[k]) if r[k] not in ("", None) else math.nan for r in rows]
                for k in keys}
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object {{metric: [values]}}.")
    return {k: [math.nan if v is None else float(v) for v in values]
            for k, values in data.items() if isinstance(values, list)}
