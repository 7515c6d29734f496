"""Multi-view input pipeline vs. train-step consumption, side by side.

Measures, in one run on the current KERAS_BACKEND:
  1. images/s delivered by the full `tf.data` pipeline
     (`make_training_dataset` + BYOL views, labelled oversampling on) for
     the CIFAR preset (32/16 px) with the train step's views (L=2, S=0) and
     with the preset's full L=4, S=2, and for the ImageNet preset (224 px,
     L=2) on a few hundred 256 px images (digits upscaled);
  2. images/s consumed by SemPPL's train step with a ResNet-18 (CIFAR
     stem), L=2 large 32 px views, batch 64, timed over a few steps after
     warm-up on one fixed in-memory batch (no input cost);
  3. the device placement's cost: seconds per batch of `DeviceViews` (the
     same recipe, augmenting in the compiled step) on a batch of source
     images, compiled alone (jax.jit / tf.function; eager on PyTorch), for
     the CIFAR and ImageNet presets; and, for CIFAR L=2, the train step with
     `SemPPL(view_augmentation=DeviceViews(...))` minus the plain one.
"images" are source examples (each carries all its views). The ratio
pipeline / train step for the matching configuration (CIFAR, L=2) tells
whether host-side augmentation keeps up (the goal: >= 3).

The two are measured one after the other on the same cores; while training,
the pipeline would share them, so the ratio is an upper bound there.

Run:  KERAS_BACKEND=jax .venv/bin/python benchmarks/pipeline_throughput.py
Writes benchmarks/results/pipeline_throughput.json and .md.
"""

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's per-op cost warnings


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--cifar-images", type=int, default=1024,
                   help="source images for the CIFAR-preset pipeline (digits at 32 px).")
    p.add_argument("--imagenet-images", type=int, default=256,
                   help="source images for the ImageNet-preset pipeline (digits at 256 px).")
    p.add_argument("--imagenet-source-size", type=int, default=256)
    p.add_argument("--pipeline-batches", type=int, default=30,
                   help="timed batches per pipeline configuration (after 2 warm-up).")
    p.add_argument("--train-steps", type=int, default=3, help="timed train steps.")
    p.add_argument("--warmup-steps", type=int, default=1, help="untimed steps (compilation).")
    p.add_argument("--encoder", default="resnet18", choices=("resnet18", "small_convnet"))
    p.add_argument("--head-dim", type=int, default=4096,
                   help="projector/predictor hidden width (BYOL: 4096).")
    p.add_argument("--skip-imagenet", action="store_true")
    p.add_argument("--skip-device", action="store_true",
                   help="skip the device placement's measurements.")
    p.add_argument("--device-steps", type=int, default=5,
                   help="timed DeviceViews batches per preset (after 2 warm-up).")
    p.add_argument("--output-dir", default=os.path.join(HERE, "results"))
    return p.parse_args(argv)


def _pipeline_rate(images, labels, views, batch_size, batches, seed=0):
    """(images/s, seconds) of the training pipeline over `batches` batches."""
    from keras_semppl.augment import make_view_fn
    from keras_semppl.data.pipeline import make_training_dataset

    ds = make_training_dataset(images, labels, batch_size, make_view_fn(views, seed=seed),
                               seed=seed, labelled_per_batch=batch_size // 4, repeat=True)
    it = iter(ds)
    for _ in range(2):  # warm-up: tracing, thread pools, prefetch buffers
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    seconds = time.perf_counter() - start
    return batches * batch_size / seconds, seconds


def _device_seconds(views, images, batch_size, steps, seed=0):
    """Seconds per batch of `DeviceViews(views)` on `batch_size` source images,
    compiled alone (jax.jit / tf.function; eager on PyTorch), after warm-up."""
    import keras
    import numpy as np

    from keras_semppl.augment import DeviceViews

    layer = DeviceViews(views.large, views.small, seed=seed)
    source = keras.ops.convert_to_tensor(np.resize(images, (batch_size,) + images.shape[1:]))
    batch = {"large_views": (source,) * len(views.large),
             "small_views": (source,) * len(views.small)}
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        state = [v.value for v in layer.non_trainable_variables]
        fn = jax.jit(lambda st, b: layer.stateless_call([], st, b, training=True))

        def step():
            nonlocal state
            out, state = fn(state, batch)
            jax.block_until_ready(out)
    elif backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda b: layer(b, training=True))

        def step():
            out = fn(batch)
            float(tf.reduce_sum(out["large_views"][0]))
    else:
        def step():
            out = layer(batch, training=True)
            float(keras.ops.sum(out["large_views"][0]))
    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def _train_rate(args, size=32, device_views=False):
    """(images/s, seconds per step) of SemPPL's train step, ResNet-18 CIFAR stem, L=2;
    with `device_views`, the CIFAR preset's views are augmented inside the step."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_semppl.encoders.resnet import resnet18
    from keras_semppl.encoders.small_convnet import small_convnet
    from keras_semppl.augment import DeviceViews
    from keras_semppl.augment.presets import view_preset
    from keras_semppl.models import SemPPL

    b = args.batch_size
    rng = np.random.default_rng(0)
    batch = {
        "large_views": tuple(rng.random((b, size, size, 3), np.float32) for _ in range(2)),
        "labels": np.where(np.arange(b) % 4 == 0, np.arange(b) % 10, -1).astype(np.int32),
        "ids": np.arange(b, dtype=np.int32),
    }
    if args.encoder == "resnet18":
        encoder = resnet18(input_shape=(size, size, 3), stem="cifar")
    else:
        encoder = small_convnet((size, size, 3), widths=(16, 32))
    augmentation = None
    if device_views:
        augmentation = DeviceViews(view_preset("cifar", 2, 0, large_size=size).large, seed=0)
    model = SemPPL(encoder, num_classes=10, num_large_views=2, queue_size=2560,
                   projector_hidden_dim=args.head_dim, projection_dim=256,
                   predictor_hidden_dim=args.head_dim, view_augmentation=augmentation, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    stamps = []

    class Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, step, logs=None):
            if logs:  # pulls the loss: waits for the step (JAX dispatch is async)
                float(logs["loss"])
            stamps.append(time.perf_counter())

    total = args.warmup_steps + args.train_steps
    model.fit(ds, steps_per_epoch=total, epochs=1, verbose=0, callbacks=[Stamp()])
    seconds = (stamps[-1] - stamps[args.warmup_steps - 1]) / args.train_steps
    return b / seconds, seconds


def run(args):
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_semppl.augment.presets import view_preset
    from keras_semppl.data.digits import digits_images

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rows = []

    def labels_for(n):
        # A quarter labelled (oversampled to batch_size // 4 per batch), rest -1.
        return np.where(np.arange(n) % 4 == 0, np.arange(n) % 10, -1).astype(np.int32)

    cifar, _ = digits_images(32)
    cifar = np.resize(cifar, (args.cifar_images,) + cifar.shape[1:])
    configs = [("pipeline", "cifar", 2, 0, cifar), ("pipeline", "cifar", 4, 2, cifar)]
    if not args.skip_imagenet:
        side = args.imagenet_source_size
        big = np.resize(digits_images(16)[0], (args.imagenet_images, 16, 16, 3))
        big = np.clip(tf.image.resize(big, (side, side)).numpy(), 0.0, 1.0)
        configs.append(("pipeline", "imagenet", 2, 0, big))
    for kind, preset, num_large, num_small, images in configs:
        rate, seconds = _pipeline_rate(images, labels_for(len(images)),
                                       view_preset(preset, num_large, num_small),
                                       args.batch_size, args.pipeline_batches)
        rows.append({"what": kind, "preset": preset, "source_px": int(images.shape[1]),
                     "views": f"L={num_large} S={num_small}",
                     "images_per_s": round(rate, 3), "seconds": round(seconds, 2)})
        print(f"pipeline {preset:>8} L={num_large} S={num_small}: {rate:9.1f} images/s",
              flush=True)

    rate, step = _train_rate(args)
    rows.append({"what": "train_step", "preset": "cifar", "source_px": 32,
                 "views": "L=2 S=0", "encoder": f"{args.encoder} (cifar stem)",
                 "images_per_s": round(rate, 3), "seconds_per_step": round(step, 3)})
    print(f"train step {args.encoder} L=2 batch {args.batch_size}: {rate:9.1f} images/s "
          f"({step:.3f} s/step)", flush=True)
    ratio = rows[0]["images_per_s"] / rows[-1]["images_per_s"]  # the table's figures
    device_rows = []
    if not args.skip_device:
        for kind, preset, num_large, num_small, images in configs:
            seconds = _device_seconds(view_preset(preset, num_large, num_small), images,
                                      args.batch_size, args.device_steps)
            device_rows.append({"preset": preset, "source_px": int(images.shape[1]),
                                "views": f"L={num_large} S={num_small}",
                                "seconds_per_batch": round(seconds, 4),
                                "share_of_train_step": round(seconds / step, 3)})
            print(f"device views {preset:>8} L={num_large} S={num_small}: {seconds:.4f} s per "
                  f"batch of {args.batch_size}", flush=True)
        _, step_device = _train_rate(args, device_views=True)
        device_rows.append({"preset": "cifar", "source_px": 32, "views": "L=2 S=0",
                            "in_train_step": True,
                            "seconds_per_batch": round(step_device - step, 4),
                            "share_of_train_step": round((step_device - step) / step, 3)})
        print(f"train step with DeviceViews: {step_device:.3f} s/step "
              f"(+{step_device - step:.3f} s)", flush=True)
    result = {
        "backend": keras.backend.backend(),
        "batch_size": args.batch_size,
        "head_dim": args.head_dim,
        "rows": rows,
        "device_rows": device_rows,
        "ratio_pipeline_over_train_step": round(ratio, 2),
        "goal_ratio": 3.0,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": platform.platform(),
        "python": sys.version.split()[0],
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "command": "KERAS_BACKEND=%s python benchmarks/pipeline_throughput.py %s" % (
            keras.backend.backend(), " ".join(sys.argv[1:])),
    }
    print(f"ratio pipeline (cifar, L=2) / train step: {ratio:.2f} (goal >= 3)")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "pipeline_throughput.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(args.output_dir, "pipeline_throughput.md"), "w") as f:
        f.write(to_markdown(result))
    return result


def to_markdown(result):
    lines = [f"# Pipeline vs. train step ({result['backend']}, batch {result['batch_size']})", "",
             "| what | preset | source px | views | images/s |", "|---|---|---|---|---|"]
    for row in result["rows"]:
        what = row["what"] + (f" ({row['encoder']})" if "encoder" in row else "")
        lines.append(f"| {what} | {row['preset']} | {row['source_px']} | {row['views']} "
                     f"| {row['images_per_s']} |")
    lines += ["", f"Ratio pipeline (CIFAR preset, L=2) / train step: "
              f"**{result['ratio_pipeline_over_train_step']}** (goal >= 3).", ""]
    if result.get("device_rows"):
        lines += ["Device placement (`DeviceViews`): seconds per batch of "
                  f"{result['batch_size']} source images, and as a share of the train step.",
                  "", "| preset | source px | views | measured | s / batch | x train step |",
                  "|---|---|---|---|---|---|"]
        for row in result["device_rows"]:
            how = "in the train step (difference)" if row.get("in_train_step") else "compiled alone"
            lines.append(f"| {row['preset']} | {row['source_px']} | {row['views']} | {how} "
                         f"| {row['seconds_per_batch']} | {row['share_of_train_step']} |")
        lines.append("")
    lines += [
              f"{result['cpu_count']} CPU(s), load average before/after "
              f"{result['load_average_before']} / {result['load_average_after']}; "
              f"wall {result['wall_seconds']} s. Command: `{result['command']}`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    run(parse_args())
