"""Digits quality over seeds: the main job against its ablation and baselines.

For each seed (a different draw of the 14 labels per class and a different
initialisation; the test split of scikit-learn's bundled digits is the same
for every seed), runs the README's main job exactly as a user does,
``semppl train --seed S``, which trains SemPPL, the supervised baseline
(its own cross-validated recipe) and the classical raw-pixel baselines
(each tuned by cross-validation on the labels); then ``semppl train --seed S
--no-semantic-positives`` (the paper's ablation: the same objective without
pseudo-labels or semantic positives). Every method is scored with every
protocol the job reports; this prints and writes mean +- std per (method,
protocol), the paired difference between SemPPL's own classifier and the
strongest baseline of each seed (mean and 95 % t-interval), and a PNG with
SemPPL's pseudo-label accuracy and semantic-positive precision per epoch.

    KERAS_BACKEND=tensorflow python benchmarks/digits_quality.py --seeds 20,21,22

Writes ``benchmarks/results/digits_quality.{json,md,png}`` (``--out``).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default 0-4).")
    p.add_argument("--out", default=str(HERE / "results" / "digits_quality"),
                   help="output path without extension.")
    p.add_argument("--no-ablation", action="store_true",
                   help="skip the run without semantic positives.")
    p.add_argument("train_args", nargs=argparse.REMAINDER,
                   help="extra arguments for every `semppl train` run, after `--`.")
    args = p.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds must be comma-separated integers; got {args.seeds!r}.")
    if not args.seeds:
        p.error("--seeds is empty.")
    args.train_args = [a for a in args.train_args if a != "--"]
    return args


def run_job(extra, workdir):
    """Runs `semppl train` with ``extra`` arguments; returns its JSON report."""
    report = os.path.join(workdir, "report.json")
    command = [sys.executable, "-m", "keras_semppl.cli.main", "train", "--verbose", "0",
               "--output", os.path.join(workdir, "model.keras"), "--report-json", report,
               "--plots", workdir] + extra
    start = time.time()
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"`{' '.join(command)}` failed:\n{proc.stdout[-4000:]}")
    with open(report) as f:
        result = json.load(f)
    result["wall_seconds"] = round(time.time() - start, 1)
    with open(os.path.join(workdir, "history.json")) as f:
        result["history"] = json.load(f)
    return result


def collect(runs):
    """{method: {protocol: [accuracy per seed]}} from the jobs' reports."""
    table = {}
    for run in runs:
        for method, scores in run["accuracy"].items():
            for protocol, value in scores.items():
                table.setdefault(method, {}).setdefault(protocol, []).append(value)
    return table


def strongest_baseline(accuracy):
    """(name, accuracy) of the best baseline entry of one seed's report.

    Every (method, protocol) that is not SemPPL's counts, so the baseline
    gets its best protocol on the test images: a conservative comparison.
    """
    entries = [(f"{method} {protocol}" if protocol != "raw" else method, value)
               for method, scores in accuracy.items() if not method.startswith("SemPPL")
               for protocol, value in scores.items()]
    return max(entries, key=lambda entry: entry[1])


def paired_difference(ours, theirs, confidence=0.95):
    """Mean of ``ours - theirs`` over seeds and its two-sided t-interval.

    Returns:
        dict mean, low, high, n (low = high = mean when n == 1).
    """
    from scipy import stats

    differences = np.asarray(ours, float) - np.asarray(theirs, float)
    n = len(differences)
    mean = float(np.mean(differences))
    if n < 2:
        return {"mean": mean, "low": mean, "high": mean, "n": n}
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * np.std(differences, ddof=1) / np.sqrt(n)
    return {"mean": mean, "low": mean - float(half), "high": mean + float(half), "n": n}


def headline(runs):
    """SemPPL's own classifier against each seed's strongest baseline."""
    best = [strongest_baseline(run["accuracy"]) for run in runs]
    ours = [run["accuracy"]["SemPPL"]["own"] for run in runs]
    return {"strongest": [{"name": name, "accuracy": value} for name, value in best],
            "semppl_own": ours,
            "difference": paired_difference(ours, [value for _, value in best])}


def markdown(table, seeds, runs, command):
    lines = [f"Command: `{command}`", "",
             f"Seeds: {', '.join(map(str, seeds))} (each a different label draw and "
             "initialisation; the same test digits for every seed).", "",
             "| method | protocol | mean | std | per seed |", "|---|---|---|---|---|"]
    for method, protocols in table.items():
        for protocol, values in protocols.items():
            lines.append(f"| {method} | {protocol} | {np.mean(values):.3f} | "
                         f"{np.std(values):.3f} | {' '.join(f'{v:.3f}' for v in values)} |")
    if all("SemPPL" in r["accuracy"] for r in runs):
        head = headline(runs)
        d = head["difference"]
        lines += ["", "SemPPL's own classifier minus the strongest baseline of each seed "
                  "(best of every baseline and protocol on that seed's test images):", "",
                  "| seed | SemPPL own | strongest baseline | difference |", "|---|---|---|---|"]
        for seed, ours, best in zip(seeds, head["semppl_own"], head["strongest"]):
            lines.append(f"| {seed} | {ours:.3f} | {best['name']} {best['accuracy']:.3f} | "
                         f"{ours - best['accuracy']:+.3f} |")
        lines += ["", f"Paired difference over {d['n']} seeds: mean {d['mean']:+.3f}, "
                  f"95 % interval [{d['low']:+.3f}, {d['high']:+.3f}]."]
    walls = [r["wall_seconds"] for r in runs if "supervised" in r["accuracy"]]
    if walls:
        lines += ["", f"Main job wall time per seed (s): {' '.join(f'{w:.0f}' for w in walls)}"]
    return "\n".join(lines) + "\n"


def plot_curves(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, title in zip(axes, ("pseudo_label_accuracy", "semantic_positive_precision"),
                              ("pseudo-label accuracy (unlabelled, training)",
                               "semantic-positive precision")):
        curves = [r["history"][key] for r in runs if key in r["history"]]
        for curve in curves:
            ax.plot(np.arange(1, len(curve) + 1), curve, color="tab:blue", alpha=0.3, lw=1)
        if curves:
            ax.plot(np.arange(1, len(curves[0]) + 1), np.mean(curves, axis=0),
                    color="tab:blue", lw=2, label=f"mean of {len(curves)} seeds")
        ax.set(title=title, xlabel="epoch", ylim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    command = "python benchmarks/digits_quality.py " + " ".join(
        (sys.argv[1:] if argv is None else argv))
    runs, ablations = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            work = os.path.join(tmp, f"seed{seed}")
            os.makedirs(work)
            run = run_job(["--seed", str(seed)] + args.train_args, work)
            runs.append(run)
            print(f"seed {seed}: " + json.dumps(run["accuracy"]), flush=True)
            if not args.no_ablation:
                work = os.path.join(tmp, f"seed{seed}_ablation")
                os.makedirs(work)
                ablation = run_job(["--seed", str(seed), "--no-semantic-positives",
                                    "--no-baseline", "--no-classical"] + args.train_args, work)
                ablations.append(ablation)
                # The ablation's SemPPL row is "SemPPL without semantic positives".
                run["accuracy"]["SemPPL w/o semantic positives"] = ablation["accuracy"]["SemPPL"]
                print(f"seed {seed} ablation: " + json.dumps(ablation["accuracy"]["SemPPL"]),
                      flush=True)
    table = collect(runs)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(table, args.seeds, runs, command)
    summary = {"command": command, "seeds": args.seeds,
               "mean": {m: {p: float(np.mean(v)) for p, v in ps.items()} for m, ps in table.items()},
               "std": {m: {p: float(np.std(v)) for p, v in ps.items()} for m, ps in table.items()},
               "runs": runs, "ablations": ablations}
    if all("SemPPL" in r["accuracy"] for r in runs):
        summary["headline"] = headline(runs)
    for suffix, content in ((".md", text), (".json", json.dumps(summary, indent=1))):
        tmp = str(out) + suffix + ".tmp"
        with open(tmp, "w") as f:
            f.write(content)
        os.replace(tmp, str(out) + suffix)
    plot_curves(runs, str(out) + ".png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
