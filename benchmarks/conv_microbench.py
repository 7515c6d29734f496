"""Minimal reproduction of the speed gap: one 3x3 convolution, forward + backward.

Times the dominant op of the ResNet-18 step (a 3x3, stride-1, 64 -> 64
channel convolution on a (128, 32, 32, 64) batch: the first stage of the
CIFAR ResNet-18 with two views of batch 64) in each backend's own API,
outside Keras, so that the backends' CPU convolution kernels are compared
directly: jax.jit(jax.grad) (XLA:CPU), tf.function + GradientTape (oneDNN),
torch autograd (oneDNN, NCHW and channels_last memory).
``--dtype bfloat16`` runs the same convolution with bfloat16 inputs and
kernel (the loss summed in float32), as a bf16 training step does.

    .venv/bin/python benchmarks/conv_microbench.py [--repeats 20] [--dtype bfloat16]

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


def bench_jax(x, w, repeats, dtype):
    import jax
    import jax.numpy as jnp

    xj, wj = jnp.asarray(x, dtype), jnp.asarray(w, dtype)  # NHWC, HWIO

    def loss(xx, ww):
        y = jax.lax.conv_general_dilated(xx, ww, (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = y.astype(jnp.float32)
        return jnp.sum(y * y)

    step = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return _time(lambda: jax.block_until_ready(step(xj, wj)), repeats)


def bench_tensorflow(x, w, repeats, dtype):
    import tensorflow as tf

    xt, wt = tf.constant(x, dtype), tf.Variable(tf.constant(w, dtype))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.cast(tf.nn.conv2d(xt, wt, 1, "SAME"), tf.float32)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [xt, wt])

    return _time(lambda: [g.numpy() for g in step()], repeats)


def bench_torch(x, w, repeats, channels_last, dtype):
    import torch

    dtype = getattr(torch, dtype)
    xt = torch.tensor(x).to(dtype).permute(0, 3, 1, 2)  # NCHW view of NHWC memory
    xt = xt.contiguous(memory_format=torch.channels_last if channels_last
                       else torch.contiguous_format).requires_grad_(True)
    wt = torch.tensor(w).to(dtype).permute(3, 2, 0, 1).contiguous().requires_grad_(True)

    def step():
        y = torch.nn.functional.conv2d(xt, wt, padding=1).float()
        (y * y).sum().backward()
        xt.grad = wt.grad = None

    return _time(step, repeats)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--batch", type=int, default=SHAPE[0])
    p.add_argument("--size", type=int, default=SHAPE[1])
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    args = p.parse_args(argv)
    shape = (args.batch, args.size, args.size, SHAPE[3])
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype("float32")
    w = (0.05 * rng.standard_normal((3, 3, 64, 64))).astype("float32")
    results = {
        "tensorflow (oneDNN)": bench_tensorflow(x, w, args.repeats, args.dtype),
        "jax (XLA:CPU)": bench_jax(x, w, args.repeats, args.dtype),
        "torch NCHW": bench_torch(x, w, args.repeats, False, args.dtype),
        "torch channels_last": bench_torch(x, w, args.repeats, True, args.dtype),
    }
    ref = results["tensorflow (oneDNN)"]
    print(f"3x3 conv 64->64 on {shape}, {args.dtype}, forward + backward, "
          f"median of {args.repeats}:")
    print("| backend | ms | vs tensorflow |\n|---|---|---|")
    for name, ms in results.items():
        print(f"| {name} | {ms:.1f} | {ms / ref:.2f}x |")
    return results


if __name__ == "__main__":
    main()
