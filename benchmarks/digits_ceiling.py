"""The digits job's headroom: the classical baselines with every training label.

The main job's goal asks SemPPL, with 140 labels, for +2 points over the
strongest baseline with the same 140 labels. This scores the same fixed
test split (359 digits) with the same classical baselines (raw-pixel k-NN,
logistic regression and RBF SVM, each tuned by 5-fold cross-validation
on the labels; `keras_semppl.evaluation.classical_baselines`) trained on
**all** 1,438 training labels, at the images `semppl train` uses (16 px,
3 channels): how high a classifier of this kind goes on this split.

    python benchmarks/digits_ceiling.py --out benchmarks/results/digits_ceiling
"""

import argparse
import json
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=16,
                   help="image side in pixels (default 16, as `semppl train` on digits).")
    p.add_argument("--out", default=str(HERE / "results" / "digits_ceiling"),
                   help="output path without extension.")
    args = p.parse_args(argv)
    from keras_semppl.data.digits import load_digits
    from keras_semppl.evaluation.classical_baselines import classical_baselines

    data = load_digits(image_size=args.image_size)
    results = {}
    for name, labels in (("140 labels (seed 0's draw)", data.labels),
                         ("every training label", data.true_labels)):
        scores = classical_baselines(data.images, labels, data.val_images, data.val_labels)
        results[name] = {"labelled": int(np.sum(labels >= 0)),
                         **{k: v["accuracy"] for k, v in scores.items()}}
    command = "python benchmarks/digits_ceiling.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    names = [k for k in next(iter(results.values())) if k != "labelled"]
    lines = [f"Command: `{command}`", "",
             f"Fixed digits test split ({len(data.val_labels)} digits), "
             f"{args.image_size} px; every baseline tuned by cross-validation on its labels.",
             "", "| labels | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, row in results.items():
        lines.append(f"| {name} ({row['labelled']}) | "
                     + " | ".join(f"{row[k]:.3f}" for k in names) + " |")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"command": command, "results": results}, indent=1))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
