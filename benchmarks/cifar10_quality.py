"""CIFAR-10 quality benchmark (issue 4): SemPPL vs. no semantic positives vs. supervised.

CIFAR-10 JPEGs from ``../shared/data/cifar10-jpeg/train.tar.gz``: 5,000 images
(500 per class) held out for validation, 400 labels per class (4,000) kept in
the rest. Under one budget (same encoder, epochs, augmentations) it trains

  (a) SemPPL,
  (b) the same without semantic positives (``semantic_positives=False``: no
      k-NN, no queue positives; the paper's main ablation),
  (c) a supervised baseline on the 4,000 labelled images only, with the same
      augmentation and number of optimizer steps,

and reports k-NN, linear-probe and fine-tuned accuracy of each encoder, and
SemPPL's pseudo-label accuracy per epoch. Writes
``benchmarks/results/cifar10_quality.{json,md}``.

    KERAS_BACKEND=tensorflow python benchmarks/cifar10_quality.py --epochs 5 --max-train 10000
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

HERE = pathlib.Path(__file__).resolve().parent
ARCHIVE = HERE.parent.parent / "shared" / "data" / "cifar10-jpeg" / "train.tar.gz"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", default=str(ARCHIVE))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--max-train", type=int, default=10000,
                   help="training images used (all 4,000 labelled + the rest unlabelled).")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--labelled-per-batch", type=int, default=64)
    p.add_argument("--widths", default="32,64,128", help="small_convnet widths.")
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--lambda-invariance", type=float, default=None,
                   help="KL weight (default: SemPPL's own default).")
    p.add_argument("--linear-epochs", type=int, default=30)
    p.add_argument("--finetune-epochs", type=int, default=15,
                   help="fine-tuning epochs over the 4,000 labels (random crop + flip).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE / "results" / "cifar10_quality"))
    return p.parse_args(argv)


def extract(archive, root):
    if not pathlib.Path(archive).is_file():
        raise SystemExit(f"--archive: {archive} not found (CIFAR-10 JPEG tar.gz).")
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(root, filter="data")
    return pathlib.Path(root) / "train"


def main(argv=None):
    args = parse_args(argv)
    import keras
    import numpy as np

    from keras_semppl.augment import byol_view_configs, make_view_fn
    from keras_semppl.data.image_folder import load_image_folder
    from keras_semppl.data.pipeline import make_training_dataset
    from keras_semppl.encoders.small_convnet import small_convnet
    from keras_semppl.evaluation.finetune import random_crop_flip
    from keras_semppl.evaluation.protocols import evaluate_encoder
    from keras_semppl.evaluation.supervised_baseline import train_supervised_baseline
    from keras_semppl.models import SemPPL
    from keras_semppl.schedules.warmup_cosine import WarmupCosineDecay

    start_all = time.time()
    keras.utils.set_random_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        data = load_image_folder(extract(args.archive, tmp), val_fraction=0.1,
                                 labels_per_class=400, seed=args.seed)
    print(data.summary())
    # Budget: keep every labelled image and fill up with unlabelled ones.
    rng = np.random.default_rng(args.seed)
    labelled = np.flatnonzero(data.labels >= 0)
    unlabelled = rng.permutation(np.flatnonzero(data.labels < 0))
    keep = np.sort(np.concatenate([labelled, unlabelled[: max(args.max_train - len(labelled), 0)]]))
    images, labels, truth = data.images[keep], data.labels[keep], data.true_labels[keep]
    widths = tuple(int(w) for w in args.widths.split(","))
    view_fn = make_view_fn(byol_view_configs(num_large=2, large_size=32), seed=args.seed)
    dataset = make_training_dataset(images, labels, args.batch_size, view_fn, true_labels=truth,
                                    seed=args.seed, labelled_per_batch=args.labelled_per_batch,
                                    num_classes=10)
    steps = int(dataset.cardinality()) * args.epochs
    eval_kwargs = dict(
        linear_kwargs={"epochs": args.linear_epochs},
        finetune_kwargs={"epochs": args.finetune_epochs, "batch_size": 64, "base_lr": 0.2,
                         "augment": random_crop_flip(pad=4, seed=args.seed)},
    )

    lambda_option = {} if args.lambda_invariance is None else {
        "lambda_invariance": args.lambda_invariance}

    def train_semppl(name, semantic_positives):
        model = SemPPL(small_convnet((32, 32, 3), widths=widths, name=f"{name}_convnet"),
                       num_classes=10, projector_hidden_dim=512, projection_dim=128,
                       predictor_hidden_dim=512, queue_size=2560, target_decay_steps=steps,
                       semantic_positives=semantic_positives, online_probe=True,
                       seed=args.seed, **lambda_option)
        schedule = WarmupCosineDecay(args.learning_rate, steps, warmup_steps=min(steps // 10, 200))
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4))
        t = time.time()
        history = model.fit(dataset, epochs=args.epochs, verbose=2).history
        return model.extract_encoder(), history, time.time() - t

    results = {}
    for name, sempos in (("semppl", True), ("no_semantic_positives", False)):
        encoder, history, seconds = train_semppl(name, sempos)
        results[name] = {"train_seconds": round(seconds, 1), "history": {
            k: [float(v) for v in vals] for k, vals in history.items()}}
        results[name]["encoder"] = encoder
    t = time.time()
    baseline = train_supervised_baseline(
        small_convnet((32, 32, 3), widths=widths, name="supervised_convnet"), images, labels,
        10, view_fn, steps=steps, batch_size=args.labelled_per_batch,
        learning_rate=args.learning_rate, seed=args.seed)
    results["supervised"] = {"train_seconds": round(time.time() - t, 1), "encoder": baseline.layers[1]}

    for name, entry in results.items():
        report = evaluate_encoder(entry.pop("encoder"), images, labels, data.val_images,
                                  data.val_labels, 10, dataset="cifar10", **eval_kwargs)
        entry.update({p: report[p].top1 for p in ("knn", "linear", "finetune")})
        print(name, {p: round(entry[p], 4) for p in ("knn", "linear", "finetune")}, flush=True)

    total = time.time() - start_all
    backend = keras.backend.backend()
    meta = {"backend": backend, "epochs": args.epochs, "train_images": int(len(keep)),
            "labelled": int((labels >= 0).sum()), "validation": int(len(data.val_labels)),
            "encoder": f"small_convnet{widths}", "batch_size": args.batch_size,
            "labelled_per_batch": args.labelled_per_batch, "steps": steps,
            "lambda_invariance": (args.lambda_invariance if args.lambda_invariance is not None
                                  else inspect.signature(SemPPL).parameters[
                                      "lambda_invariance"].default),
            "total_seconds": round(total, 1), "load_average": os.getloadavg(),
            "command": f"KERAS_BACKEND={backend} python benchmarks/cifar10_quality.py "
                       + " ".join(sys.argv[1:] if argv is None else argv)}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    hist = results["semppl"]["history"]
    lines = [f"# CIFAR-10 quality benchmark ({backend})", "",
             f"{meta['train_images']} training images ({meta['labelled']} labelled), "
             f"{meta['validation']} held out; {meta['encoder']}, {args.epochs} epochs "
             f"({steps} steps), batch {args.batch_size} with {args.labelled_per_batch} labelled.",
             "", "| method | k-NN | linear probe | fine-tuned | train s |", "|---|---|---|---|---|"]
    for name in ("semppl", "no_semantic_positives", "supervised"):
        r = results[name]
        lines.append(f"| {name} | {r['knn']:.3f} | {r['linear']:.3f} | {r['finetune']:.3f} | {r['train_seconds']} |")
    def per_epoch(label, values):
        return f"{label}: " + ", ".join(f"{v:.3f}" for v in values)

    lines += ["", "Per epoch, SemPPL (on unlabelled training images, hidden labels):", "",
              "- " + per_epoch("pseudo-label accuracy", hist["pseudo_label_accuracy"]),
              "- " + per_epoch("semantic-positive precision", hist["semantic_positive_precision"]),
              "- " + per_epoch("online probe accuracy", hist["probe_accuracy"]),
              "- " + per_epoch("online probe accuracy without semantic positives",
                               results["no_semantic_positives"]["history"]["probe_accuracy"]),
              "", f"Total {total / 60:.1f} min; load average at the end {meta['load_average']}.",
              f"Command: `{meta['command']}`"]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
