"""Chooses the supervised baseline's recipe by cross-validation on labelled images only.

The main job's supervised baseline (`semppl train`) trains the same encoder
by cross-entropy on the labelled digits. Its recipe is chosen here, among
16 recipes (the same budget of trials SemPPL's defaults were screened
with): learning rate {1e-3, 5e-3} x AdamW weight decay {1e-4, 0.05} x
passes over the labelled images {50, 200} x augmentation on/off. Each
recipe is scored by stratified k-fold cross-validation over the labelled
training images of ``--seed`` (default 4 folds): trained on k-1 folds, its
softmax head scored on the held fold's un-augmented images. No unlabelled
or held-out image takes part. Ties go to the earlier recipe in the grid.

    KERAS_BACKEND=tensorflow python benchmarks/tune_supervised.py --seed 10

Writes ``benchmarks/results/supervised_recipe.{json,md}`` (``--out``).
"""

import argparse
import itertools
import json
import os
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent

GRID = [dict(learning_rate=lr, weight_decay=wd, passes=passes, augment=augment)
        for lr, wd, passes, augment in itertools.product(
            (1e-3, 5e-3), (1e-4, 0.05), (50.0, 200.0), (True, False))]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=10,
                   help="the selection seed whose labelled images are folded (default 10).")
    p.add_argument("--folds", type=int, default=4, help="cross-validation folds (default 4).")
    p.add_argument("--limit", type=int, default=None,
                   help="score only the first N recipes (for a quick check).")
    p.add_argument("--max-steps", type=int, default=None,
                   help="cap every training at N steps (for a quick check).")
    p.add_argument("--out", default=str(HERE / "results" / "supervised_recipe"),
                   help="output path without extension.")
    args = p.parse_args(argv)
    if args.folds < 2:
        p.error(f"--folds must be at least 2; got {args.folds}.")
    return args


def choose_recipe(rows):
    """Index of the row with the highest ``cv_accuracy``; ties go to the earlier row."""
    return max(range(len(rows)), key=lambda i: (rows[i]["cv_accuracy"], -i))


def fold_accuracy(plan, data, view_fn, size, recipe, train, test, max_steps):
    """Accuracy of ``recipe`` trained on labelled ``train`` indices, scored on ``test``."""
    from keras_semppl.cli.train_run import build_encoder
    from keras_semppl.evaluation.embed import embed_images
    from keras_semppl.evaluation.supervised_baseline import train_supervised_baseline
    from keras_semppl.data.images import resize_if_needed

    labelled = np.flatnonzero(data.labels >= 0)
    labels = np.full(len(data.labels), -1, np.int32)
    labels[labelled[train]] = data.labels[labelled[train]]
    encoder = build_encoder(plan, size, data.images.shape[-1], name="cv_encoder")
    steps = recipe.steps(len(train))
    if max_steps:
        steps = min(steps, max_steps)
    classifier = train_supervised_baseline(
        encoder, data.images, labels, data.num_classes, view_fn, steps=steps,
        learning_rate=recipe.learning_rate, weight_decay=recipe.weight_decay,
        augment=recipe.augment, seed=plan.seed)
    held = resize_if_needed(data.images[labelled[test]], (size, size), 1.0).numpy()
    logits = embed_images(classifier, held)
    return float(np.mean(np.argmax(logits, -1) == data.labels[labelled[test]]))


def main(argv=None):
    args = parse_args(argv)
    import keras

    from keras_semppl.augment.host_views import make_view_fn
    from keras_semppl.cli.main import build_parser
    from keras_semppl.cli.train_plan import resolve_plan
    from keras_semppl.cli.train_run import load_data
    from keras_semppl.evaluation.baseline_tuning import cv_folds
    from keras_semppl.evaluation.supervised_baseline import SupervisedRecipe

    command = "python benchmarks/tune_supervised.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    plan = resolve_plan(build_parser().parse_args(
        ["train", "--seed", str(args.seed), "--precision", "fp32", "--verbose", "0"]))
    keras.utils.set_random_seed(plan.seed)
    data = load_data(plan)
    views = plan.views(data.images.shape[1])
    size = views.large[0].size
    view_fn = make_view_fn(views, seed=plan.seed)
    labelled = np.flatnonzero(data.labels >= 0)
    folds = cv_folds(data.labels[labelled], seed=args.seed)[:args.folds]
    if len(folds) != args.folds:
        from sklearn.model_selection import StratifiedKFold

        folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(
            labelled, data.labels[labelled]))
    rows = []
    for settings in GRID[:args.limit]:
        recipe = SupervisedRecipe(**settings)
        start = time.time()
        scores = [fold_accuracy(plan, data, view_fn, size, recipe, train, test, args.max_steps)
                  for train, test in folds]
        rows.append(dict(settings, cv_accuracy=float(np.mean(scores)), folds=scores,
                         seconds=round(time.time() - start, 1)))
        print(json.dumps(rows[-1]), flush=True)
    best = choose_recipe(rows)
    lines = [f"Command: `{command}`", "",
             f"Selection seed {args.seed}: {len(labelled)} labelled training digits, "
             f"{args.folds}-fold stratified cross-validation; nothing else is seen.", "",
             "| learning rate | weight decay | passes | augment | CV accuracy | s |",
             "|---|---|---|---|---|---|"]
    for i, row in enumerate(rows):
        mark = " **(chosen)**" if i == best else ""
        lines.append(f"| {row['learning_rate']:g} | {row['weight_decay']:g} | "
                     f"{row['passes']:g} | {'on' if row['augment'] else 'off'} | "
                     f"{row['cv_accuracy']:.3f}{mark} | {row['seconds']:.0f} |")
    text = "\n".join(lines) + "\n"
    summary = {"command": command, "seed": args.seed, "folds": args.folds,
               "chosen": {k: rows[best][k] for k in GRID[0]}, "rows": rows}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for suffix, content in ((".md", text), (".json", json.dumps(summary, indent=1))):
        tmp = str(out) + suffix + ".tmp"
        with open(tmp, "w") as f:
            f.write(content)
        os.replace(tmp, str(out) + suffix)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
