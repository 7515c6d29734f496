"""Minimal reproduction of the speed gap: one 3x3 convolution, forward + backward.

Times the dominant op of the ResNet-18 step (a 3x3, stride-1, 64 -> 64
channel convolution on a (128, 32, 32, 64) batch: the first stage of the
CIFAR ResNet-18 with two views of batch 64) in each backend's own API,
outside Keras, so that the backends' CPU convolution kernels are compared
directly: jax.jit(jax.grad) (XLA:CPU), tf.function + GradientTape (oneDNN),
torch autograd (oneDNN, NCHW and channels_last memory).

    .venv/bin/python benchmarks/conv_microbench.py [--repeats 20]

Prints milliseconds per forward+backward (median) and each one's ratio to
TensorFlow's.
"""

import argparse
import statistics
import time

import numpy as np

SHAPE = (128, 32, 32, 64)  # (B, H, W, C); --batch / --size change the first three


def _time(fn, repeats):
    fn()  # warm-up / compilation
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def bench_jax(x, w, repeats):
    import jax
    import jax.numpy as jnp

    xj, wj = jnp.asarray(x), jnp.asarray(w)  # NHWC, HWIO

    def loss(xx, ww):
        y = jax.lax.conv_general_dilated(xx, ww, (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.sum(y * y)

    step = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return _time(lambda: jax.block_until_ready(step(xj, wj)), repeats)


def bench_tensorflow(x, w, repeats):
    import tensorflow as tf

    xt, wt = tf.constant(x), tf.Variable(w)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.nn.conv2d(xt, wt, 1, "SAME")
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [xt, wt])

    return _time(lambda: [g.numpy() for g in step()], repeats)


def bench_torch(x, w, repeats, channels_last):
    import torch

    xt = torch.tensor(x).permute(0, 3, 1, 2)  # NCHW view of NHWC memory
    xt = xt.contiguous(memory_format=torch.channels_last if channels_last
                       else torch.contiguous_format).requires_grad_(True)
    wt = torch.tensor(w).permute(3, 2, 0, 1).contiguous().requires_grad_(True)

    def step():
        y = torch.nn.functional.conv2d(xt, wt, padding=1)
        (y * y).sum().backward()
        xt.grad = wt.grad = None

    return _time(step, repeats)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--batch", type=int, default=SHAPE[0])
    p.add_argument("--size", type=int, default=SHAPE[1])
    args = p.parse_args(argv)
    shape = (args.batch, args.size, args.size, SHAPE[3])
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype("float32")
    w = (0.05 * rng.standard_normal((3, 3, 64, 64))).astype("float32")
    results = {
        "tensorflow (oneDNN)": bench_tensorflow(x, w, args.repeats),
        "jax (XLA:CPU)": bench_jax(x, w, args.repeats),
        "torch NCHW": bench_torch(x, w, args.repeats, channels_last=False),
        "torch channels_last": bench_torch(x, w, args.repeats, channels_last=True),
    }
    ref = results["tensorflow (oneDNN)"]
    print(f"3x3 conv 64->64 on {shape}, forward + backward, median of {args.repeats}:")
    print("| backend | ms | vs tensorflow |\n|---|---|---|")
    for name, ms in results.items():
        print(f"| {name} | {ms:.1f} | {ms / ref:.2f}x |")
    return results


if __name__ == "__main__":
    main()
