"""Summarises CIFAR-10 quality runs of several seeds: means, spreads, paired gaps.

Reads the ``OUT.json`` of `cifar10_quality.py` runs that differ only in
``--seed`` (each with SemPPL, the ablation without semantic positives and
the supervised baseline) and writes ``--out``.json / .md with, per method and
protocol, the mean, the sample standard deviation and the per-seed values;
the paired differences SemPPL - ablation and SemPPL - supervised per
protocol (mean and two-sided 95 % t-interval over seeds); SemPPL's final
pseudo-label accuracy per seed; and the issue's goals, each with its figure.

    python benchmarks/cifar10_seeds.py benchmarks/results/cifar10_1pct_seed{0,1,2}.json \\
        --out benchmarks/results/cifar10_1pct_seeds
"""

import argparse
import json
import pathlib
import sys

import numpy as np

from cifar10_quality import METHODS, SAME_RUN_KEYS  # benchmarks/: the runs' own script
from digits_quality import paired_difference

PROTOCOLS = ("knn", "linear", "finetune")
SAME = tuple(k for k in SAME_RUN_KEYS if k != "seed")  # runs differ only in their seed
PSEUDO_LABEL_BEFORE = 0.285  # SemPPL's final pseudo-label accuracy before the trust term


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="OUT.json files of cifar10_quality.py, one per seed.")
    p.add_argument("--out", required=True, help="output path without extension.")
    return p.parse_args(argv)


def load_runs(paths):
    """[(seed, meta, results)] sorted by seed; exits naming a file that lacks a
    method or whose run settings differ from the first file's."""
    runs = []
    for path in paths:
        path = pathlib.Path(path)
        if not path.is_file():
            raise SystemExit(f"runs: {path} not found.")
        record = json.loads(path.read_text())
        meta, results = record["meta"], record["results"]
        missing = [m for m in METHODS if m not in results]
        if missing:
            raise SystemExit(f"runs: {path} has no results for {', '.join(missing)}.")
        if runs:
            first = runs[0][1]
            differs = [k for k in SAME if first.get(k) != meta.get(k)]
            if differs:
                raise SystemExit(f"runs: {path} was run with {differs[0]}={meta.get(differs[0])!r}"
                                 f", the first file with {first.get(differs[0])!r}.")
        runs.append((meta["seed"], meta, results))
    seeds = [seed for seed, _, _ in runs]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"runs: the files repeat a seed: {seeds}.")
    return sorted(runs, key=lambda run: run[0])


def summarise(runs):
    """The summary dict (see the module docstring) of ``load_runs``' runs."""
    table = {m: {p: [results[m][p] for _, _, results in runs] for p in PROTOCOLS}
             for m in METHODS}
    stats = {m: {p: {"mean": float(np.mean(v)),
                     "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                     "per_seed": [float(x) for x in v]} for p, v in table[m].items()}
             for m in METHODS}
    gaps = {other: {p: dict(paired_difference(table["semppl"][p], table[other][p]),
                            per_seed=[float(a - b) for a, b in zip(table["semppl"][p],
                                                                   table[other][p])])
                    for p in PROTOCOLS} for other in METHODS[1:]}
    pseudo = [float(results["semppl"]["history"]["pseudo_label_accuracy"][-1])
              for _, _, results in runs]
    ablation = gaps["no_semantic_positives"]
    goals = [
        ("SemPPL - ablation, k-NN: mean >= +2 points, every seed > 0",
         ablation["knn"]["mean"] >= 0.02 and min(ablation["knn"]["per_seed"]) > 0,
         f"{100 * ablation['knn']['mean']:+.1f} (per seed "
         + ", ".join(f"{100 * d:+.1f}" for d in ablation["knn"]["per_seed"]) + ")"),
        ("SemPPL - ablation, linear probe: mean >= +2 points, every seed > 0",
         ablation["linear"]["mean"] >= 0.02 and min(ablation["linear"]["per_seed"]) > 0,
         f"{100 * ablation['linear']['mean']:+.1f} (per seed "
         + ", ".join(f"{100 * d:+.1f}" for d in ablation["linear"]["per_seed"]) + ")"),
        ("SemPPL - supervised, linear probe: mean >= +5 points",
         gaps["supervised"]["linear"]["mean"] >= 0.05,
         f"{100 * gaps['supervised']['linear']['mean']:+.1f}"),
        (f"final pseudo-label accuracy above {PSEUDO_LABEL_BEFORE}",
         float(np.mean(pseudo)) > PSEUDO_LABEL_BEFORE,
         f"{np.mean(pseudo):.3f} (per seed " + ", ".join(f"{x:.3f}" for x in pseudo) + ")"),
    ]
    return {"seeds": [seed for seed, _, _ in runs], "stats": stats, "gaps": gaps,
            "pseudo_label_accuracy": pseudo,
            "goals": [{"goal": g, "met": bool(met), "measured": m} for g, met, m in goals]}


def markdown(summary, meta, command):
    names = {"semppl": "SemPPL", "no_semantic_positives": "no semantic positives (ablation)",
             "supervised": "supervised (CV-chosen recipe)"}
    seeds = ", ".join(map(str, summary["seeds"]))
    lines = [f"# CIFAR-10 at {meta['labels_per_class']} labels per class over seeds {seeds}", "",
             f"{meta['encoder']}, {meta['epochs']} epochs ({meta['steps']} steps), batch "
             f"{meta['batch_size']} with {meta['labelled_per_batch']} labelled, {meta['backend']}"
             f", {meta['precision']}; held-out images of each seed's split. Fine-tuned: mean "
             "over the fine-tuning seeds of each encoder.", "",
             "| method | k-NN | linear probe | fine-tuned |", "|---|---|---|---|"]
    for m in METHODS:
        cells = [f"{s['mean']:.3f} +- {s['std']:.3f} ({', '.join(f'{x:.3f}' for x in s['per_seed'])})"
                 for s in (summary["stats"][m][p] for p in PROTOCOLS)]
        lines.append(f"| {names[m]} | " + " | ".join(cells) + " |")
    lines += ["", "Paired differences, SemPPL minus the other method, in points (mean [95 % "
              "t-interval]; per seed):", "", "| against | k-NN | linear probe | fine-tuned |",
              "|---|---|---|---|"]
    for other in METHODS[1:]:
        cells = [f"{100 * g['mean']:+.1f} [{100 * g['low']:+.1f}, {100 * g['high']:+.1f}]; "
                 + ", ".join(f"{100 * d:+.1f}" for d in g["per_seed"])
                 for g in (summary["gaps"][other][p] for p in PROTOCOLS)]
        lines.append(f"| {names[other]} | " + " | ".join(cells) + " |")
    lines += ["", "| goal | met | measured |", "|---|---|---|"]
    lines += [f"| {g['goal']} | {'yes' if g['met'] else '**no**'} | {g['measured']} |"
              for g in summary["goals"]]
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    runs = load_runs(args.runs)
    summary = summarise(runs)
    command = "python benchmarks/cifar10_seeds.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(dict(summary, command=command), indent=1))
    text = markdown(summary, runs[0][1], command)
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
