"""CIFAR-10 quality benchmark: SemPPL vs. no semantic positives vs. supervised.

Training (the default mode). CIFAR-10 training JPEGs (a ``train/<class>/<image>``
tar.gz, from ``--archive`` or ``$SEMPPL_CIFAR_TAR``): 10 % of every class is
held out for validation and ``--labels-per-class`` of the rest keep their
label (50 = 1 % of CIFAR-10's 50,000, the paper's headline regime; 400 =
4,000 labels). Under one budget (same encoder, steps and augmentations) it
trains

  (a) SemPPL,
  (b) the same without semantic positives (``semantic_positives=False``: the
      paper's main ablation),
  (c) a supervised baseline on the labelled images only, with its own recipe
      (``--supervised-*``; by default SemPPL's views, learning rate and number
      of optimizer steps; ``--tune-supervised`` chooses one by cross-validation),

and reports k-NN, linear-probe and fine-tuned accuracy of each encoder on the
held-out images, with SemPPL's pseudo-label accuracy per epoch. Fine-tuning
is run with two recipes, LP-FT (the head starts as the linear probe) and with
a random head, each over ``--finetune-seeds`` seeds (default 3); the headline
takes, per method, the recipe whose mean over those seeds scores higher on
unlabelled training images (hidden labels), never on the held-out ones, and
reports its mean and standard deviation over the seeds.
Writes ``OUT.json`` / ``OUT.md`` and, per method, ``OUT/<method>_encoder.keras``
and ``OUT/<method>_finetuned.keras`` (encoder + linear head, the chosen recipe).

    KERAS_BACKEND=tensorflow python benchmarks/cifar10_quality.py \\
        --labels-per-class 50 --epochs 7 --archive cifar10-train.tar.gz

``--methods`` trains, evaluates and reports only the named methods (a
comma-separated subset of semppl, no_semantic_positives, supervised; default
all three), e.g. ``--methods semppl`` to re-run SemPPL alone against an
earlier run's other rows.

``--reuse-encoders`` skips training and recomputes every protocol for the
encoders an earlier run saved under ``--out`` (same split and seed). A run
with ``--methods`` keeps the other methods' rows of an earlier ``OUT.json``
of the same split, seed, epochs and precision (marked in the report).

Choosing the supervised recipe (``--tune-supervised``): stratified k-fold
cross-validation (``--folds``, default 3) over the labelled images of
``--seed``'s split only, among 12 recipes: learning rate {1e-3, 5e-3} x
passes over the labelled images {50, 200} x augmentation {off, random
crop + flip, SemPPL's first view}. Writes ``OUT.json`` / ``OUT.md`` and prints
the ``--supervised-*`` flags of the chosen recipe. Run it on a selection
seed whose results are not reported:

    KERAS_BACKEND=tensorflow python benchmarks/cifar10_quality.py --tune-supervised \
        --seed 10 --out benchmarks/results/cifar10_supervised_recipe

Scoring only (``--score FOLDER``): loads the saved files of ``--out`` and
scores them on another ``FOLDER/<class>/<image>`` tree whose class folders
carry CIFAR-10's names: the fine-tuned classifiers on every image, and the
frozen encoders by k-NN and a linear probe fitted on ``--score-labels-per-class``
images per class and tested on the rest. Nothing is trained on the encoders,
so the numbers come from data that never influenced a choice.

    KERAS_BACKEND=tensorflow python benchmarks/cifar10_quality.py \\
        --score my_cifar_like_test_images/ --out benchmarks/results/cifar10_1pct
"""

import argparse
import inspect
import json
import os
import pathlib
import sys
import tarfile
import tempfile
import time

from tune_supervised import choose_recipe  # benchmarks/: the digits job's recipe tuner

HERE = pathlib.Path(__file__).resolve().parent
METHODS = ("semppl", "no_semantic_positives", "supervised")
PROTOCOLS = ("knn", "linear", "finetune", "finetune_lpft", "finetune_random_head")
AUGMENTS = ("off", "crop_flip", "byol")
SUPERVISED_GRID = [dict(learning_rate=lr, passes=passes, augment=augment)
                   for lr in (1e-3, 5e-3) for passes in (50.0, 200.0) for augment in AUGMENTS]
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", default=os.environ.get("SEMPPL_CIFAR_TAR"),
                   help="tar.gz holding train/<class>/<image> (default: $SEMPPL_CIFAR_TAR).")
    p.add_argument("--labels-per-class", type=int, default=50,
                   help="labelled training images per class (50 = 1 %% of CIFAR-10).")
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--max-train", type=int, default=45000,
                   help="training images used (all labelled ones + unlabelled up to this).")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--labelled-per-batch", type=int, default=64)
    p.add_argument("--queue-size", type=int, default=None,
                   help="queue slots (default: the labelled count rounded up to a multiple "
                        "of --labelled-per-batch, at most 2,560, at least --batch-size).")
    p.add_argument("--widths", default="32,64,128", help="small_convnet widths.")
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16",
                   help="bf16: Keras' mixed_bfloat16 policy (losses, queue and EMA stay fp32).")
    p.add_argument("--linear-epochs", type=int, default=30)
    p.add_argument("--finetune-epochs", type=int, default=30,
                   help="fine-tuning epochs over the labelled images (random crop + flip).")
    p.add_argument("--finetune-lr", type=float, default=0.05,
                   help="base learning rate (x batch / 256) of LP-FT fine-tuning (the head "
                        "starts as the linear probe); the random-head recipe keeps 0.2.")
    p.add_argument("--finetune-seeds", type=int, default=3,
                   help="fine-tuning runs per recipe and encoder, with different seeds; the "
                        "headline is their mean (default 3).")
    p.add_argument("--supervised-lr", type=float, default=None,
                   help="supervised baseline: peak learning rate (default --learning-rate).")
    p.add_argument("--supervised-weight-decay", type=float, default=1e-4,
                   help="supervised baseline: AdamW weight decay (default 1e-4).")
    p.add_argument("--supervised-passes", type=float, default=None,
                   help="supervised baseline: passes over the labelled images (default: as "
                        "many optimizer steps as SemPPL takes).")
    p.add_argument("--supervised-augment", choices=AUGMENTS, default="byol",
                   help="supervised baseline: off, random crop + flip, or SemPPL's first "
                        "view (default byol).")
    p.add_argument("--tune-supervised", action="store_true",
                   help="only choose the supervised recipe by cross-validation on the "
                        "labelled images of --seed's split.")
    p.add_argument("--folds", type=int, default=3,
                   help="with --tune-supervised: cross-validation folds (default 3).")
    p.add_argument("--reuse-encoders", action="store_true",
                   help="skip training: recompute every protocol for the encoders saved by an "
                        "earlier run with the same --out, split and seed.")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma-separated methods to train, evaluate and report, a subset of "
                        f"{','.join(METHODS)} (default: all).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE / "results" / "cifar10_quality"),
                   help="output stem: OUT.json, OUT.md and the folder OUT/ of .keras files.")
    p.add_argument("--score", metavar="FOLDER", default=None,
                   help="only score the saved files of --out on FOLDER/<class>/<image>.")
    p.add_argument("--score-labels-per-class", type=int, default=50,
                   help="with --score: labelled images per class for k-NN and the probe.")
    args = p.parse_args(argv)
    args.methods = parse_methods(p, args.methods)
    if args.score is None and not args.archive:
        p.error("--archive: give the CIFAR-10 training tar.gz (or set $SEMPPL_CIFAR_TAR).")
    for name in ("labels_per_class", "epochs", "batch_size", "labelled_per_batch",
                 "finetune_seeds"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive; got {getattr(args, name)}.")
    for name in ("supervised_lr", "supervised_passes"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            p.error(f"--{name.replace('_', '-')} must be positive; got {value}.")
    if args.supervised_weight_decay < 0:
        p.error(f"--supervised-weight-decay must be >= 0; got {args.supervised_weight_decay}.")
    if args.folds < 2:
        p.error(f"--folds must be at least 2; got {args.folds}.")
    return args


def parse_methods(parser, text):
    """The methods named in ``text`` (comma-separated), in METHODS' order."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted({n for n in names if n not in METHODS})
    if unknown:
        parser.error(f"--methods: unknown method(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(METHODS)}.")
    if not names:
        parser.error(f"--methods: name at least one of {', '.join(METHODS)}.")
    return tuple(m for m in METHODS if m in names)


def extract(archive, root):
    if not pathlib.Path(archive).is_file():
        raise SystemExit(f"--archive: {archive} not found (expected a CIFAR-10 JPEG tar.gz).")
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(root, filter="data")
    return pathlib.Path(root) / "train"


def public_arguments(argv):
    """argv without the local --archive path (it goes to $SEMPPL_CIFAR_TAR in the record)."""
    out, skip = [], False
    for a in argv:
        if skip or a.startswith("--archive="):
            skip = False
            continue
        if a == "--archive":
            skip = True
            continue
        out.append(a)
    return out


def default_queue_size(num_labelled, labelled_per_batch, batch_size):
    """Every labelled image once, in whole labelled batches: at most 2,560 slots
    (MAE-CT_SemPPL's CIFAR size) and at least one batch (the queue's minimum)."""
    batches = -(-num_labelled // labelled_per_batch)
    return max(batch_size, min(2560, batches * labelled_per_batch))


def set_precision(precision):
    import keras

    from keras_semppl.precision import policy_name

    keras.mixed_precision.set_global_policy(policy_name(precision))


def load_split(args):
    """The benchmark's split: (data, images, labels, true labels) of the training images used."""
    import numpy as np

    from keras_semppl.data.image_folder import load_image_folder

    with tempfile.TemporaryDirectory() as tmp:
        data = load_image_folder(extract(args.archive, tmp), val_fraction=0.1,
                                 labels_per_class=args.labels_per_class, seed=args.seed)
    print(data.summary(), flush=True)
    rng = np.random.default_rng(args.seed)
    labelled = np.flatnonzero(data.labels >= 0)
    unlabelled = rng.permutation(np.flatnonzero(data.labels < 0))
    keep = np.sort(np.concatenate([labelled, unlabelled[: max(args.max_train - len(labelled), 0)]]))
    return data, data.images[keep], data.labels[keep], data.true_labels[keep]


def train_methods(args, images, labels, dataset, view_fn, queue_size, steps, widths):
    """Trains those of (a), (b) and (c) named in ``args.methods`` (SemPPL and the
    ablation for ``steps`` steps); returns ({method: encoder}, {method: record})."""
    import keras

    from keras_semppl.encoders.small_convnet import small_convnet
    from keras_semppl.models import SemPPL
    from keras_semppl.schedules.warmup_cosine import WarmupCosineDecay

    def train_semppl(name, semantic_positives):
        model = SemPPL(small_convnet((32, 32, 3), widths=widths, name=f"{name}_convnet"),
                       num_classes=10, projector_hidden_dim=512, projection_dim=128,
                       predictor_hidden_dim=512, queue_size=queue_size, target_decay_steps=steps,
                       semantic_positives=semantic_positives, online_probe=True,
                       seed=args.seed)
        schedule = WarmupCosineDecay(args.learning_rate, steps, warmup_steps=min(steps // 10, 200))
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4))
        t = time.time()
        history = model.fit(dataset, epochs=args.epochs, verbose=2).history
        return model.extract_encoder(), history, time.time() - t

    results, encoders = {}, {}
    for name, sempos in (("semppl", True), ("no_semantic_positives", False)):
        if name not in args.methods:
            continue
        encoders[name], history, seconds = train_semppl(name, sempos)
        results[name] = {"train_seconds": round(seconds, 1), "history": {
            k: [float(v) for v in vals] for k, vals in history.items()}}
    if "supervised" not in args.methods:
        return encoders, results
    t = time.time()
    recipe = supervised_recipe(args)
    baseline = train_supervised(args, recipe, images, labels, view_fn, widths, steps)
    results["supervised"] = {"train_seconds": round(time.time() - t, 1), "recipe": recipe}
    encoders["supervised"] = baseline.layers[1]
    return encoders, results


def supervised_recipe(args):
    """The supervised baseline's recipe from the ``--supervised-*`` flags."""
    return {"learning_rate": args.supervised_lr or args.learning_rate,
            "weight_decay": args.supervised_weight_decay,
            "passes": args.supervised_passes, "augment": args.supervised_augment}


def crop_flip_view(pad=4, seed=0):
    """A ``view_fn`` giving one random-crop + flip view of an (H, W, C) image
    (He et al. 2016, Sec. 4.2), for `train_supervised_baseline`."""
    import tensorflow as tf

    def view(image, index):
        del index
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        cropped = tf.image.random_crop(padded, tf.shape(image), seed=seed)
        return [tf.image.random_flip_left_right(cropped, seed=seed + 1)], []

    return view


def train_supervised(args, recipe, images, labels, view_fn, widths, default_steps):
    """The supervised baseline trained with ``recipe`` on the labelled ``images``
    (labels -1: unused). Passes None: ``default_steps`` optimizer steps."""
    from keras_semppl.encoders.small_convnet import small_convnet
    from keras_semppl.evaluation.supervised_baseline import SupervisedRecipe
    from keras_semppl.evaluation.supervised_baseline import train_supervised_baseline

    batch = args.labelled_per_batch
    steps = default_steps if recipe["passes"] is None else SupervisedRecipe(
        recipe["learning_rate"], recipe["weight_decay"], recipe["passes"]).steps(
        int((labels >= 0).sum()), batch)
    views = {"off": view_fn, "byol": view_fn, "crop_flip": crop_flip_view(seed=args.seed)}
    return train_supervised_baseline(
        small_convnet((32, 32, 3), widths=widths, name="supervised_convnet"), images, labels,
        10, views[recipe["augment"]], steps=steps, batch_size=batch,
        learning_rate=recipe["learning_rate"], weight_decay=recipe["weight_decay"],
        augment=recipe["augment"] != "off", seed=args.seed)


def tune_supervised(args):
    """Chooses the supervised recipe among SUPERVISED_GRID by stratified k-fold
    cross-validation over the labelled images of ``args.seed``'s split; writes
    OUT.json / OUT.md. No unlabelled or held-out image takes part."""
    import keras
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from keras_semppl.augment import byol_view_configs, make_view_fn

    start_all = time.time()
    set_precision(args.precision)
    keras.utils.set_random_seed(args.seed)
    _, images, labels, _ = load_split(args)
    labelled = np.flatnonzero(labels >= 0)
    x, y = images[labelled], labels[labelled]
    widths = tuple(int(w) for w in args.widths.split(","))
    view_fn = make_view_fn(byol_view_configs(num_large=2, large_size=32), seed=args.seed)
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(x, y))
    rows = []
    for recipe in SUPERVISED_GRID:
        recipe = dict(recipe, weight_decay=args.supervised_weight_decay)
        t, scores = time.time(), []
        for train, test in folds:
            fold_labels = np.full(len(y), -1, np.int32)
            fold_labels[train] = y[train]
            classifier = train_supervised(args, recipe, x, fold_labels, view_fn, widths, None)
            logits = classifier.predict(x[test], batch_size=256, verbose=0)
            scores.append(float(np.mean(np.argmax(logits, 1) == y[test])))
        rows.append(dict(recipe, cv_accuracy=float(np.mean(scores)), folds=scores,
                         seconds=round(time.time() - t, 1)))
        print(json.dumps(rows[-1]), flush=True)
    best = choose_recipe(rows)
    chosen = {k: rows[best][k] for k in ("learning_rate", "weight_decay", "passes", "augment")}
    flags = (f"--supervised-lr {chosen['learning_rate']:g} --supervised-weight-decay "
             f"{chosen['weight_decay']:g} --supervised-passes {chosen['passes']:g} "
             f"--supervised-augment {chosen['augment']}")
    command = ("KERAS_BACKEND=" + keras.backend.backend() + " python benchmarks/cifar10_quality.py "
               + " ".join(public_arguments(sys.argv[1:] if args.argv is None else args.argv)))
    lines = [f"Command: `{command}`", "",
             f"Selection seed {args.seed}: {len(y)} labelled training images, {args.folds}-fold "
             "stratified cross-validation over them; no unlabelled or held-out image is seen.",
             "", "| learning rate | passes | augment | CV accuracy | s |", "|---|---|---|---|---|"]
    for i, row in enumerate(rows):
        mark = " **(chosen)**" if i == best else ""
        lines.append(f"| {row['learning_rate']:g} | {row['passes']:g} | {row['augment']} | "
                     f"{row['cv_accuracy']:.3f}{mark} | {row['seconds']:.0f} |")
    lines += ["", f"Chosen flags: `{flags}`", "",
              f"Total {(time.time() - start_all) / 60:.1f} min; load average at the end "
              f"{tuple(round(v, 2) for v in os.getloadavg())}."]
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"command": command, "seed": args.seed, "folds": args.folds, "chosen": chosen,
         "flags": flags, "rows": rows}, indent=1))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0



def evaluate_methods(args, data, images, labels, truth, encoders, results, models_dir):
    """Every protocol for every encoder, reported on the held-out images.

    k-NN and the linear probe on frozen features; fine-tuning with two recipes,
    LP-FT (the head starts as the linear probe, ``--finetune-lr``) and a random
    head (base lr 0.2), each over ``--finetune-seeds`` seeds. The headline
    "finetune" is, per method, the recipe whose mean over the seeds scores
    higher on a selection set of up to 5,000 *unlabelled training* images
    (their hidden labels), so no choice looks at the held-out images; it is
    that recipe's mean held-out accuracy over the seeds. Saves each encoder
    and the chosen recipe's classifier of the first seed.
    """
    import numpy as np

    from keras_semppl.evaluation.finetune import finetune_classifier, random_crop_flip
    from keras_semppl.evaluation.protocols import evaluate_encoder

    rng = np.random.default_rng(args.seed + 1)
    unlabelled = np.flatnonzero(labels < 0)
    select = rng.choice(unlabelled, min(5000, len(unlabelled)), replace=False)

    def accuracy(classifier, x, y):
        return float(np.mean(np.argmax(classifier.predict(x, batch_size=256, verbose=0), 1) == y))

    for name in args.methods:
        report = evaluate_encoder(encoders[name], images, labels, data.val_images,
                                  data.val_labels, 10, protocols="knn,linear",
                                  linear_kwargs={"epochs": args.linear_epochs}, dataset="cifar10")
        runs, first = {}, {}
        for recipe, head_init, base_lr in (("lpft", "linear_probe", args.finetune_lr),
                                           ("random_head", "random", 0.2)):
            runs[recipe] = []
            for seed in finetune_seeds(args.seed, args.finetune_seeds):
                classifier = finetune_classifier(
                    encoders[name], images[labels >= 0], labels[labels >= 0], 10,
                    epochs=args.finetune_epochs, batch_size=64, base_lr=base_lr, seed=seed,
                    augment=random_crop_flip(pad=4, seed=seed), head_init=head_init)
                runs[recipe].append((accuracy(classifier, images[select], truth[select]),
                                     accuracy(classifier, data.val_images, data.val_labels)))
                first.setdefault(recipe, classifier)
        results[name].update(knn=report["knn"].top1, linear=report["linear"].top1,
                             **summarise_finetuning(runs))
        if not args.reuse_encoders:
            encoders[name].save(models_dir / f"{name}_encoder.keras")
        first[results[name]["finetune_recipe"]].save(models_dir / f"{name}_finetuned.keras")
        print(name, {p: round(results[name][p], 4) for p in PROTOCOLS},
              results[name]["finetune_recipe"], flush=True)


def finetune_seeds(seed, count):
    """The fine-tuning seeds of a run with ``seed``: ``seed`` first (as before the
    option existed), then ``seed + 1000``, ``seed + 2000``, ..."""
    return [seed + 1000 * i for i in range(count)]


def summarise_finetuning(runs):
    """The fine-tuning entries of a method's record.

    Args:
        runs: {recipe: [(selection accuracy, held-out accuracy), ...]}, one pair
            per fine-tuning seed, for the recipes "lpft" and "random_head".

    Returns:
        dict: finetune (the chosen recipe's mean held-out accuracy), finetune_std
        (its sample standard deviation over seeds, 0 for one seed),
        finetune_per_seed, finetune_recipe (the recipe with the higher mean
        selection accuracy; ties go to LP-FT), finetune_lpft and
        finetune_random_head (each recipe's mean held-out accuracy),
        finetune_selection ({recipe: mean selection accuracy}).
    """
    import numpy as np

    selection = {r: float(np.mean([s for s, _ in v])) for r, v in runs.items()}
    held = {r: [h for _, h in v] for r, v in runs.items()}
    chosen = max(runs, key=lambda r: (selection[r], r == "lpft"))
    values = held[chosen]
    return {"finetune": float(np.mean(values)),
            "finetune_std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "finetune_per_seed": values, "finetune_recipe": chosen,
            "finetune_lpft": float(np.mean(held["lpft"])),
            "finetune_random_head": float(np.mean(held["random_head"])),
            "finetune_selection": selection}


def reuse_encoders(args, models_dir, labels):
    """The encoders and training records of an earlier run of this split (``--out``);
    ``labels`` are the split's training labels (-1: unlabelled), checked against the run's."""
    import keras

    import keras_semppl  # noqa: F401  (registers the package's classes for loading)

    record_path = models_dir.with_suffix(".json")
    paths = [models_dir / f"{m}_encoder.keras" for m in args.methods]
    missing = [str(p) for p in [record_path] + paths if not p.is_file()]
    if missing:
        raise SystemExit(f"--reuse-encoders: not found: {', '.join(missing)}")
    record = json.loads(record_path.read_text())
    old = record["meta"]
    absent = [m for m in args.methods if m not in record["results"]]
    if absent:
        raise SystemExit(f"--reuse-encoders: {record_path} has no results for "
                         f"{', '.join(absent)}; choose them out with --methods.")
    for key in ("labels_per_class", "seed", "max_train", "precision"):
        if key in old and old[key] != getattr(args, key):
            raise SystemExit(f"--reuse-encoders: {record_path} was trained with --"
                             f"{key.replace('_', '-')} {old[key]}; got {getattr(args, key)}.")
    if (old["labelled"], old["train_images"]) != (int((labels >= 0).sum()), len(labels)):
        raise SystemExit(f"--reuse-encoders: the saved run had {old['labelled']} labelled of "
                         f"{old['train_images']} training images; this split has "
                         f"{int((labels >= 0).sum())} of {len(labels)}.")
    results = {m: {k: v for k, v in record["results"][m].items()
                   if k in ("train_seconds", "history", "recipe", "command")}
               for m in args.methods}
    encoders = {m: keras.saving.load_model(p) for m, p in zip(args.methods, paths)}
    return encoders, results, old


def train(args):
    import keras

    from keras_semppl.augment import byol_view_configs, make_view_fn
    from keras_semppl.data.pipeline import make_training_dataset
    from keras_semppl.models import SemPPL

    start_all = time.time()
    set_precision(args.precision)
    keras.utils.set_random_seed(args.seed)
    data, images, labels, truth = load_split(args)
    models_dir = pathlib.Path(args.out)
    command = (f"KERAS_BACKEND={keras.backend.backend()} python benchmarks/cifar10_quality.py "
               + " ".join(public_arguments(sys.argv[1:] if args.argv is None else args.argv)))
    if args.reuse_encoders:
        encoders, results, old = reuse_encoders(args, models_dir, labels)
        meta = dict(old, protocols_command=command, labels_per_class=args.labels_per_class,
                    max_train=args.max_train, methods=list(args.methods))
        evaluate_methods(args, data, images, labels, truth, encoders, results, models_dir)
        meta.update(finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr,
                    finetune_seeds=args.finetune_seeds, linear_epochs=args.linear_epochs,
                    protocols_seconds=round(time.time() - start_all, 1))
        for name in args.methods:
            results[name]["protocols_command"] = command
        write_report(models_dir, meta, keep_earlier_rows(models_dir, meta, results))
        return 0
    models_dir.mkdir(parents=True, exist_ok=True)
    widths = tuple(int(w) for w in args.widths.split(","))
    queue_size = args.queue_size or default_queue_size(int((labels >= 0).sum()),
                                                        args.labelled_per_batch, args.batch_size)
    view_fn = make_view_fn(byol_view_configs(num_large=2, large_size=32), seed=args.seed)
    dataset = make_training_dataset(images, labels, args.batch_size, view_fn, true_labels=truth,
                                    seed=args.seed, labelled_per_batch=args.labelled_per_batch,
                                    num_classes=10)
    steps = int(dataset.cardinality()) * args.epochs
    encoders, results = train_methods(args, images, labels, dataset, view_fn, queue_size, steps,
                                      widths)
    evaluate_methods(args, data, images, labels, truth, encoders, results, models_dir)
    backend = keras.backend.backend()
    meta = {"backend": backend, "precision": args.precision, "epochs": args.epochs,
            "train_images": int(len(images)), "labelled": int((labels >= 0).sum()),
            "labels_per_class": args.labels_per_class, "max_train": args.max_train,
            "validation": int(len(data.val_labels)), "encoder": f"small_convnet{widths}",
            "batch_size": args.batch_size, "labelled_per_batch": args.labelled_per_batch,
            "queue_size": queue_size, "steps": steps,
            "learning_rate": args.learning_rate, "finetune_epochs": args.finetune_epochs,
            "finetune_lr": args.finetune_lr, "finetune_seeds": args.finetune_seeds,
            "linear_epochs": args.linear_epochs,
            "class_names": list(getattr(data, "class_names", ()) or ()), "seed": args.seed,
            "methods": list(args.methods),
            "semppl_defaults": {k: inspect.signature(SemPPL).parameters[k].default for k in (
                "c", "alpha", "lambda_invariance", "knn_k", "num_negatives",
                "num_semantic_positives", "temperature", "pseudo_label_query",
                "semantic_trust")},
            "total_seconds": round(time.time() - start_all, 1),
            "load_average": os.getloadavg(), "command": command}
    for name in args.methods:
        results[name]["command"] = command
    write_report(models_dir, meta, keep_earlier_rows(models_dir, meta, results))
    return 0


SAME_RUN_KEYS = ("backend", "precision", "seed", "labels_per_class", "max_train", "epochs",
                 "steps", "batch_size", "labelled_per_batch", "queue_size", "encoder")


def keep_earlier_rows(out, meta, results):
    """``results`` plus the rows of methods not in it from an earlier ``OUT.json``
    of the same run settings (SAME_RUN_KEYS), each marked ``"earlier": True``
    and keeping the command that produced it. Rows of other settings are
    dropped, with a printed note naming the first setting that differs."""
    path = out.with_suffix(".json")
    if not path.is_file():
        return results
    earlier = json.loads(path.read_text())
    rest = {m: r for m, r in earlier.get("results", {}).items() if m not in results}
    if not rest:
        return results
    old = earlier.get("meta", {})
    differs = [k for k in SAME_RUN_KEYS if k in old and k in meta and old[k] != meta[k]]
    if differs:
        print(f"{path}: not keeping the earlier rows of {', '.join(sorted(rest))}: that run "
              f"had {differs[0]}={old[differs[0]]!r}, this one {meta[differs[0]]!r}.")
        return results
    merged = dict(results)
    for name, row in rest.items():
        merged[name] = dict(row, earlier=True, command=row.get("command", old.get("command")))
    return merged


def write_report(out, meta, results):
    """OUT.json and OUT.md for the methods in ``results`` (in METHODS' order)."""
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    lines = [f"# CIFAR-10 quality benchmark ({meta['backend']}, {meta['precision']})", "",
             f"{meta['train_images']} training images ({meta['labelled']} labelled), "
             f"{meta['validation']} held out; {meta['encoder']}, {meta['epochs']} epochs "
             f"({meta['steps']} steps), batch {meta['batch_size']} with "
             f"{meta['labelled_per_batch']} labelled, queue {meta['queue_size']}, seed "
             f"{meta['seed']}.", "",
             "| method | k-NN | linear probe | **fine-tuned** (recipe) | LP-FT | random head "
             "| train s |", "|---|---|---|---|---|---|---|"]
    for name in (m for m in METHODS if m in results):
        r = results[name]
        spread = (f" +- {r['finetune_std']:.3f}" if len(r.get("finetune_per_seed", ())) > 1
                  else "")
        lines.append(f"| {name}{' (earlier run)' if r.get('earlier') else ''} | {r['knn']:.3f} "
                     f"| {r['linear']:.3f} | **{r['finetune']:.3f}**{spread} "
                     f"({r['finetune_recipe']}) | {r['finetune_lpft']:.3f} "
                     f"| {r['finetune_random_head']:.3f} | {r['train_seconds']} |")
    seeds = max(len(r.get("finetune_per_seed", [0])) for r in results.values())
    lines += ["", f"Fine-tuned: per method, the recipe (LP-FT: head started as the linear probe; "
              f"or a random head) whose mean over {seeds} fine-tuning seed(s) scored higher on "
              "up to 5,000 unlabelled training images (hidden labels); its mean (+- std over "
              "the seeds) on the held-out images. LP-FT and random head: each recipe's mean. "
              "Every column is accuracy on the held-out images."]
    recipe = results.get("supervised", {}).get("recipe")
    if recipe:
        passes = ("as many steps as SemPPL" if recipe["passes"] is None
                  else f"{recipe['passes']:g} passes")
        lines += ["", f"Supervised recipe: learning rate {recipe['learning_rate']:g}, weight "
                  f"decay {recipe['weight_decay']:g}, {passes}, augmentation "
                  f"{recipe['augment']}."]
    for name in (m for m in METHODS if results.get(m, {}).get("earlier")):
        again = results[name].get("protocols_command")
        lines += ["", f"{name} (earlier run): `{results[name]['command']}`"
                  + (f"; its protocols: `{again}`" if again else "")]

    def per_epoch(label, values):
        return f"- {label}: " + ", ".join(f"{v:.3f}" for v in values)

    hist = results.get("semppl", {}).get("history")
    if hist:
        trust = meta.get("semppl_defaults", {}).get("semantic_trust")
        lines += ["", "Per epoch, SemPPL" + (f" (semantic_trust={trust!r})" if trust else "")
                  + " (on unlabelled training images, hidden labels):", "",
                  per_epoch("pseudo-label accuracy", hist["pseudo_label_accuracy"]),
                  per_epoch("semantic-positive precision", hist["semantic_positive_precision"]),
                  per_epoch("online probe accuracy", hist["probe_accuracy"])]
        if "semantic_trust" in hist:
            lines.append(per_epoch("semantic_trust (kappa, from the labelled leave-one-out vote)",
                                   hist["semantic_trust"]))
    ablation = results.get("no_semantic_positives", {}).get("history")
    if ablation:
        if not hist:
            lines += [""]
        lines.append(per_epoch("online probe accuracy without semantic positives",
                               ablation["probe_accuracy"]))
    lines += ["", f"Total {meta['total_seconds'] / 60:.1f} min; load average at the end "
              f"{tuple(round(x, 2) for x in meta['load_average'])}.",
              f"Command: `{meta['command']}`"]
    if "protocols_command" in meta:
        lines.append(f"Protocols recomputed from the saved encoders "
                     f"({meta['protocols_seconds'] / 60:.1f} min): `{meta['protocols_command']}`")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def score(args):
    """Scores the saved files of ``args.out`` on ``args.score``; prints a table."""
    models_dir = pathlib.Path(args.out)
    missing = [str(models_dir / f"{m}_{kind}.keras") for m in args.methods
               for kind in ("encoder", "finetuned") if not (models_dir / f"{m}_{kind}.keras").is_file()]
    if missing:
        raise SystemExit(f"--out: saved models not found: {', '.join(missing)}")
    folder = pathlib.Path(args.score)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if classes != sorted(CIFAR10_CLASSES):
        raise SystemExit(f"--score: {folder} must hold one folder per CIFAR-10 class "
                         f"{CIFAR10_CLASSES}; found {classes or 'no folders'}.")
    import keras
    import numpy as np

    import keras_semppl  # noqa: F401  (registers the package's classes for loading)
    from keras_semppl.data.image_folder import load_image_folder
    from keras_semppl.evaluation.protocols import evaluate_encoder

    data = load_image_folder(folder, image_size=32, val_fraction=0.0,
                             labels_per_class=args.score_labels_per_class, seed=args.seed)
    known = data.labels >= 0
    rest_images, rest_truth = data.images[~known], data.true_labels[~known]
    print(f"{folder}: {len(data.images)} images; k-NN and probe fitted on {int(known.sum())}, "
          f"scored on {len(rest_truth)}; fine-tuned classifiers scored on all.")
    lines = ["| method | k-NN | linear probe | fine-tuned (all images) |", "|---|---|---|---|"]
    for name in args.methods:
        encoder = keras.saving.load_model(models_dir / f"{name}_encoder.keras")
        classifier = keras.saving.load_model(models_dir / f"{name}_finetuned.keras")
        report = evaluate_encoder(encoder, data.images, data.labels, rest_images, rest_truth, 10,
                                  protocols="knn,linear")
        logits = classifier.predict(data.images, batch_size=256, verbose=0)
        accuracy = float(np.mean(np.argmax(logits, 1) == data.true_labels))
        lines.append(f"| {name} | {report['knn'].top1:.3f} | {report['linear'].top1:.3f} "
                     f"| {accuracy:.3f} |")
    print("\n".join(lines))
    return 0


def main(argv=None):
    args = parse_args(argv)
    args.argv = argv
    if args.score:
        return score(args)
    return tune_supervised(args) if args.tune_supervised else train(args)


if __name__ == "__main__":
    raise SystemExit(main())
