"""Training throughput of SemPPL on jax / tensorflow / torch against a PyTorch peer.

Every measurement runs in its own child process (its backend set through
KERAS_BACKEND, its peak memory = the child's ru_maxrss), and the configs are
run in alternating order, repetition after repetition, so that a slow
period of this shared 2-core machine hits all configs alike. Data are
synthetic random tensors; the first ``--warmup`` steps (compilation) are
excluded; images/s = batch size * timed steps / seconds (each image counted
once, whatever its number of views, as the peer counts it).

Configs (``--configs``, comma separated):

* ``<backend>-semppl``: SemPPL train step, ResNet-18 (CIFAR stem), heads
  4096 -> 256, L=2 large 32x32 views, S=0, queue 2,560, fp32.
* ``<backend>-augonly``: the same with ``semantic_positives=False`` (no k-NN,
  no positive draw, no queue write): the augmentation terms only.
* ``<backend>-full``: the full config, 4 large (32x32) + 2 small (16x16)
  views, encoder input (None, None, 3).
* ``<backend>-<kind>-bf16``: any of the above under ``mixed_bfloat16``.
* ``<backend>-<kind>-xla`` / ``-nojit`` / ``-nofuse``: jit_compile=True /
  False, fuse_views=False.
* ``<backend>-<kind>-kerasbn``: every `keras_semppl.layers.BatchNormalization`
  set to ``fused=False`` (Keras' own computation instead of the backend's
  fused kernel): the before/after of the fused BatchNorm.
* ``peer``: a plain PyTorch BYOL step built from lightly's modules
  (`benchmarks/peer_byol_lightly.py`), in its own virtual environment
  ``benchmarks/.peer-venv`` that this script creates on first use.
  ``peer-cl``: the same with model and inputs in ``torch.channels_last``;
  ``peer-bf16``: channels_last plus ``torch.autocast("cpu", torch.bfloat16)``
  around the forward passes and the loss, the peer's one-line CPU fast path.

Each of our configs is compared with the peer at the same precision (its
fastest variant: ``peer``/``peer-cl`` for float32 configs, ``peer-bf16`` for
``-bf16`` ones) and with the peer at its best (the fastest variant of all).

Usage::

    KERAS_BACKEND=jax .venv/bin/python benchmarks/throughput.py            # full run
    .venv/bin/python benchmarks/throughput.py --quick --no-peer            # smoke test
    .venv/bin/python benchmarks/throughput.py --scaling jax                # batch / queue sweep

Writes ``benchmarks/results/throughput.json`` and ``.md`` (``--out`` to change).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER_VENV = os.path.join(HERE, ".peer-venv")
PEER_PACKAGES = ("torch==2.14.1", "torchvision==0.29.1", "lightly")
DEFAULT_CONFIGS = (
    "peer,peer-cl,peer-bf16,jax-semppl,tensorflow-semppl,torch-semppl,"
    "jax-semppl-bf16,tensorflow-semppl-bf16,torch-semppl-bf16"
)
PEERS = {"peer": [], "peer-cl": ["channels_last"], "peer-bf16": ["channels_last", "bf16"]}
BACKENDS = ("jax", "tensorflow", "torch")
FLAGS = ("bf16", "xla", "nojit", "nofuse", "kerasbn")


# --------------------------------------------------------------------- child
def _parse_config(name):
    """'jax-semppl-bf16' -> dict(backend, kind, flags)."""
    if name in PEERS:
        return {"backend": "peer", "kind": "byol", "flags": list(PEERS[name])}
    parts = name.split("-")
    if len(parts) < 2 or parts[0] not in BACKENDS or parts[1] not in ("semppl", "augonly", "full"):
        raise ValueError(f"Unknown config {name!r}.")
    flags = parts[2:]
    for flag in flags:
        if flag not in FLAGS:
            raise ValueError(f"Unknown flag {flag!r} in config {name!r}; expected {FLAGS}.")
    return {"backend": parts[0], "kind": parts[1], "flags": flags}


def _synthetic_batch(np, batch_size, num_large, num_small, large_size, small_size, num_classes):
    rng = np.random.default_rng(0)
    large = tuple(rng.random((batch_size, large_size, large_size, 3), dtype="float32")
                  for _ in range(num_large))
    small = tuple(rng.random((batch_size, small_size, small_size, 3), dtype="float32")
                  for _ in range(num_small))
    # A quarter of the batch labelled, as in SemPPL's labelled oversampling.
    labels = np.where(np.arange(batch_size) % 4 == 0,
                      np.arange(batch_size) % num_classes, -1).astype("int32")
    batch = {"large_views": large, "labels": labels,
             "ids": np.arange(batch_size, dtype="int32"),
             "true_labels": (np.arange(batch_size) % num_classes).astype("int32")}
    if small:
        batch["small_views"] = small
    return batch


def run_keras_child(spec):
    """Builds one SemPPL model and times `fit` on a repeated synthetic batch."""
    import numpy as np
    import keras
    import tensorflow as tf

    from keras_semppl.encoders import resnet18
    from keras_semppl.encoders.small_convnet import small_convnet
    from keras_semppl.layers import BatchNormalization
    from keras_semppl.models import SemPPL

    flags = spec["flags"]
    if "bf16" in flags:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    full = spec["kind"] == "full"
    num_large, num_small = (4, 2) if full else (2, 0)
    size = spec["image_size"]
    input_shape = (None, None, 3) if full else (size, size, 3)
    if spec["tiny"]:
        encoder = small_convnet(input_shape, widths=(8, 16))
        heads = dict(projector_hidden_dim=32, projection_dim=16, predictor_hidden_dim=32)
    else:
        encoder = resnet18(input_shape=input_shape, stem="cifar")
        heads = dict(projector_hidden_dim=4096, projection_dim=256, predictor_hidden_dim=4096)
    model = SemPPL(
        encoder, num_classes=10, num_large_views=num_large, num_small_views=num_small,
        queue_size=spec["queue_size"], fuse_views="nofuse" not in flags,
        semantic_positives=spec["kind"] != "augonly", seed=0, **heads,
    )
    if "kerasbn" in flags:
        norms = [layer for layer in model._flatten_layers()
                 if isinstance(layer, BatchNormalization)]
        assert norms, "no BatchNormalization layer found"
        for layer in norms:
            layer.fused = False
    jit = "auto"
    if "xla" in flags:
        jit = True
    elif "nojit" in flags:
        jit = False
    # Plain SGD with momentum, as the peer: the optimizer is not what is compared.
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=jit)
    bs = spec["batch_size"]
    batch = _synthetic_batch(np, bs, num_large, num_small, size, max(size // 2, 4), 10)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()

    times, losses = [], []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, step, logs=None):
            losses.append(float(logs["loss"]))  # waits for the step (JAX is async)
            times.append(time.perf_counter())

    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=spec["warmup"] + spec["steps"], epochs=1,
              verbose=0, callbacks=[Timer()])
    timed = times[spec["warmup"] - 1:]
    step_times = [b - a for a, b in zip(timed, timed[1:])]
    seconds = timed[-1] - timed[0]
    return {
        "jit_compile": str(model.jit_compile),
        "fuse_views": model.fuse_views,
        "policy": keras.mixed_precision.global_policy().name,
        "startup_and_warmup_s": timed[0] - start,
        "step_times_s": step_times,
        "images_per_s": bs * spec["steps"] / seconds,
        "final_loss": losses[-1],
    }


def child_main(spec):
    t0 = time.perf_counter()
    result = run_keras_child(spec)
    import resource

    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result["child_wall_s"] = time.perf_counter() - t0
    print("RESULT " + json.dumps(result), flush=True)


# -------------------------------------------------------------------- parent
def ensure_peer_venv(log=print):
    """Creates benchmarks/.peer-venv with torch, torchvision and lightly once."""
    python = os.path.join(PEER_VENV, "bin", "python")
    probe = [python, "-c", "import lightly, torchvision, torch"]
    if os.path.exists(python) and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    log(f"creating the peer venv {PEER_VENV} (torch, torchvision, lightly) ...")
    subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True)
    pip = [python, "-m", "pip", "install", "-q"]
    if subprocess.run(pip + list(PEER_PACKAGES)).returncode != 0:
        # lightly pinning something that clashes: take it without its deps.
        subprocess.run(pip + list(PEER_PACKAGES[:2]), check=True)
        subprocess.run(pip + ["--no-deps", "lightly"], check=True)
        subprocess.run(pip + ["pytorch_lightning", "hydra-core", "requests", "tqdm",
                              "python_dateutil", "aenum", "certifi", "six", "urllib3"],
                       check=True)
    subprocess.run(probe, check=True)
    return python


def run_one(name, args, peer_python):
    cfg = _parse_config(name)
    spec = {
        "kind": cfg["kind"], "flags": cfg["flags"], "batch_size": args.batch_size,
        "queue_size": args.queue_size, "steps": args.steps, "warmup": args.warmup,
        "image_size": args.image_size, "tiny": args.quick,
    }
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    if cfg["backend"] == "peer":
        cmd = [peer_python, os.path.join(HERE, "peer_byol_lightly.py"), json.dumps(spec)]
        env.pop("KERAS_BACKEND", None)
    else:
        env["KERAS_BACKEND"] = cfg["backend"]
        cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["config"] = name
            result["loadavg_after"] = os.getloadavg()
            return result
    raise RuntimeError(f"config {name} failed (rc {proc.returncode}):\n"
                       f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")


def precision_of(name):
    """"bf16" for a ``-bf16`` config or ``peer-bf16``, else "fp32"."""
    return "bf16" if "bf16" in _parse_config(name)["flags"] else "fp32"


def summarise(runs, names):
    """One row per config: medians, and ratios against the peer.

    ``ratio_vs_peer``: against ``peer`` (float32, the former reference);
    ``ratio_vs_peer_same_precision``: against the fastest peer variant of the
    same precision; ``ratio_vs_peer_best``: against the fastest peer variant.
    Ratios whose reference was not run are None.
    """
    median_ips = {n: statistics.median(r["images_per_s"] for r in runs if r["config"] == n)
                  for n in names}
    peers = {n: v for n, v in median_ips.items() if n in PEERS}
    best_by_precision = {}
    for n, v in peers.items():
        key = precision_of(n)
        best_by_precision[key] = max(best_by_precision.get(key, 0.0), v)
    best = max(peers.values()) if peers else None

    def ratio(value, ref):
        return None if not ref else value / ref

    rows = []
    for name in names:
        mine = [r for r in runs if r["config"] == name]
        ips = median_ips[name]
        rows.append({
            "config": name,
            "precision": precision_of(name),
            "images_per_s_median": ips,
            "images_per_s_all": [r["images_per_s"] for r in mine],
            "step_s_median": statistics.median(s for r in mine for s in r["step_times_s"]),
            "peak_rss_mib_median": statistics.median(r["peak_rss_mib"] for r in mine),
            "ratio_vs_peer": ratio(ips, peers.get("peer")),
            "ratio_vs_peer_same_precision": ratio(ips, best_by_precision.get(precision_of(name))),
            "ratio_vs_peer_best": ratio(ips, best),
            "jit_compile": mine[0].get("jit_compile"),
            "policy": mine[0].get("policy"),
        })
    by_name = {row["config"]: row for row in rows}
    for row in rows:
        cfg = _parse_config(row["config"])
        if cfg["kind"] == "semppl":
            aug = by_name.get("-".join([cfg["backend"], "augonly"] + cfg["flags"]))
            if aug:
                row["extra_work_vs_augonly"] = (
                    row["step_s_median"] / aug["step_s_median"] - 1.0
                )
    return rows


def markdown(rows, meta):
    lines = [
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']}; load average before {meta['loadavg_before']}, "
        f"after {meta['loadavg_after']}; {meta['repeats']} repetitions x {meta['steps']} "
        f"timed steps (after {meta['warmup']} warm-up), batch {meta['batch_size']}, "
        f"configs alternated; medians.",
        "",
        "| config | precision | images/s (median) | step s (median) | vs peer fp32 | vs peer, same precision | vs peer at its best | SemPPL extra vs aug-only | peak RSS MiB | jit_compile | policy | images/s per repetition |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratios = [("" if r[k] is None else f"{r[k]:.2f}x") for k in (
            "ratio_vs_peer", "ratio_vs_peer_same_precision", "ratio_vs_peer_best")]
        extra = r.get("extra_work_vs_augonly")
        extra = "" if extra is None else f"{100 * extra:+.1f}%"
        per = ", ".join(f"{x:.1f}" for x in r["images_per_s_all"])
        lines.append(
            f"| {r['config']} | {r['precision']} | {r['images_per_s_median']:.2f} | "
            f"{r['step_s_median']:.3f} | {' | '.join(ratios)} | {extra} | {r['peak_rss_mib_median']:.0f} | {r['jit_compile']} | "
            f"{r['policy']} | {per} |"
        )
    return "\n".join(lines) + "\n"


def run_table(names, args, peer_python, log):
    runs = []
    for rep in range(args.repeats):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            result = run_one(name, args, peer_python)
            result["repeat"] = rep
            runs.append(result)
            # Partial results survive an interrupted run.
            with open(args.out + ".partial.json", "w") as f:
                json.dump(runs, f, indent=1)
            log(f"  rep {rep} {name:28s} {result['images_per_s']:8.2f} img/s  "
                f"peak {result['peak_rss_mib']:7.0f} MiB  load {os.getloadavg()[0]:.2f}")
    return runs


def scaling(backend, args, peer_python, log):
    """Step time against batch size and against queue size, one backend."""
    kind = "semppl"
    out = {"backend": backend, "batch": [], "queue": []}
    batches = (12, 16) if args.quick else (32, 64, 128)  # > num_negatives (10)
    queues = (64, 256) if args.quick else (1024, 4096, 16384, 65536)
    base_bs, base_q = args.batch_size, args.queue_size
    for rep in range(args.scaling_repeats):
        for bs in batches:
            args.batch_size = bs
            r = run_one(f"{backend}-{kind}", args, peer_python)
            out["batch"].append({"batch_size": bs, "step_s": statistics.median(r["step_times_s"]),
                                 "images_per_s": r["images_per_s"], "repeat": rep})
            log(f"  scaling batch {bs:6d}: {out['batch'][-1]['step_s']:.3f} s/step")
        args.batch_size = base_bs
        for q in queues:
            args.queue_size = q
            r = run_one(f"{backend}-{kind}", args, peer_python)
            out["queue"].append({"queue_size": q, "step_s": statistics.median(r["step_times_s"]),
                                 "images_per_s": r["images_per_s"], "repeat": rep})
            log(f"  scaling queue {q:6d}: {out['queue'][-1]['step_s']:.3f} s/step")
        args.queue_size = base_q
    return out


def scaling_markdown(sc):
    def med(rows, key, value):
        return statistics.median(r["step_s"] for r in rows if r[key] == value)

    lines = [f"\nScaling ({sc['backend']}-semppl, median step seconds):\n",
             "| batch size | step s | images/s |", "|---|---|---|"]
    for bs in sorted({r["batch_size"] for r in sc["batch"]}):
        s = med(sc["batch"], "batch_size", bs)
        lines.append(f"| {bs} | {s:.3f} | {bs / s:.1f} |")
    lines += ["", "| queue size (per view) | step s |", "|---|---|"]
    for q in sorted({r["queue_size"] for r in sc["queue"]}):
        lines.append(f"| {q} | {med(sc['queue'], 'queue_size', q):.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", default=DEFAULT_CONFIGS)
    p.add_argument("--steps", type=int, default=5, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps (compilation)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--queue-size", type=int, default=2560)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--quick", action="store_true",
                   help="tiny encoder and heads, 8x8 images, 2 steps: a smoke test")
    p.add_argument("--no-peer", action="store_true", help="drop the PyTorch peer")
    p.add_argument("--scaling", metavar="BACKEND", default=None,
                   help="also sweep batch size and queue size on this backend")
    p.add_argument("--scaling-repeats", type=int, default=1)
    p.add_argument("--out", default=os.path.join(HERE, "results", "throughput"))
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        child_main(json.loads(args.child))
        return None
    if args.quick:
        args.steps, args.warmup, args.image_size = 2, 1, 8
        args.batch_size = min(args.batch_size, 16)
        args.queue_size = min(args.queue_size, 64)
        args.repeats = min(args.repeats, 1)

    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    if args.no_peer:
        names = [n for n in names if n not in PEERS]
    for n in names:
        _parse_config(n)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    peer_python = ensure_peer_venv(log) if any(n in PEERS for n in names) else None
    meta = {
        "command": "python benchmarks/throughput.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
        "batch_size": args.batch_size, "queue_size": args.queue_size,
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    runs = run_table(names, args, peer_python, log)
    meta["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    rows = summarise(runs, names)
    text = markdown(rows, meta)
    result = {"meta": meta, "rows": rows, "runs": runs}
    if args.scaling:
        result["scaling"] = scaling(args.scaling, args, peer_python, log)
        text += scaling_markdown(result["scaling"])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(text)
    if os.path.exists(args.out + ".partial.json"):
        os.remove(args.out + ".partial.json")
    print(text)
    return result


if __name__ == "__main__":
    main()
