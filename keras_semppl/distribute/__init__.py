"""Pick a Keras/TF distribution for `fit` from a name; replica helpers for the step.

    plan = resolve_distribution("auto")
    with plan.scope():
        model = SemPPL(...)
        model.compile(...)
        model.fit(dataset)        # dataset batched with the GLOBAL batch size

Engines (never a home-made one):

* JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`
  (GPUs, TPU cores, or simulated host devices); `train_step` sees the global
  batch, so the queue is global without any all-gather. Several processes
  (hosts): `keras_semppl.distribute.processes.join` on every process first
  (or ``multi_host=True``), then the devices of all processes form one mesh.
* TensorFlow: `tf.distribute.MirroredStrategy` (one machine, several GPUs),
  `MultiWorkerMirroredStrategy` (``"multi_worker"``, TF_CONFIG set, one per
  program; feed it `tf_multi_worker.distribute_global_batches`) and
  `TPUStrategy` (``"tpu"``). The SemPPL trainer all-gathers the labelled
  target projections before the queue write and draws negatives and semantic
  positives from the global batch, so every replica holds the queue a single
  device would hold.
* torch: Keras 3.15 has no torch distribution for `fit`;
  ``"data_parallel"`` (``"auto"`` when launched by torchrun) joins the
  torch.distributed job of one process per device (gloo on CPU, NCCL on GPU)
  and `keras_semppl.distribute.torch_processes.TorchDataParallel` trains it:
  each process its rows of every global batch, gradients summed over the
  processes before the optimizer step, and the queue written from the
  all-gathered global batch, as on TensorFlow. BatchNorm: TensorFlow's rule
  (the heads' BatchNorm synchronised by ``sync_batch_norm=True``, an encoder
  layer only with ``synchronized=True``).

Inside the training step, `keras_semppl.distribute.replicas` gives the
global view (`all_gather`, `this_replica_rows`).

Backend modules are imported lazily: importing this package imports neither
jax, tensorflow nor torch.
"""

import contextlib
import dataclasses
from typing import Any, Callable

import keras

from keras_semppl.distribute.replicas import all_gather
from keras_semppl.distribute.replicas import num_replicas_in_sync
from keras_semppl.distribute.replicas import this_replica_rows

NAMES = ("auto", "none", "data_parallel", "mirrored", "multi_worker", "tpu")


@dataclasses.dataclass
class DistributionPlan:
    """A resolved distribution: its engine, replica count and scope.

    Attributes:
        name: the resolved name ("none", "data_parallel", "mirrored",
            "multi_worker" or "tpu"), never "auto".
        backend: the Keras backend it was resolved for.
        num_replicas: devices the global batch is split over (the global batch
            size must be a multiple of it).
        engine: the `keras.distribution.DataParallel`, `tf.distribute.Strategy`
            or `torch_processes.TorchDataParallel` object, or None.
        description: one line for logs.
    """

    name: str
    backend: str
    num_replicas: int
    engine: Any = None
    description: str = ""
    _scope: Callable[[], Any] = dataclasses.field(default=contextlib.nullcontext, repr=False)

    def scope(self):
        """Context manager to build, compile and fit the model in."""
        return self._scope()

    def check_batch_size(self, global_batch_size):
        """Raises ValueError unless the global batch splits evenly over replicas."""
        if global_batch_size % self.num_replicas:
            raise ValueError(
                f"The global batch size {global_batch_size} must be a multiple of "
                f"the {self.num_replicas} replicas of distribution '{self.name}'."
            )


def _none(backend, note=""):
    return DistributionPlan("none", backend, 1, None, "single device" + note)


def _jax_plan(name, multi_host):
    if multi_host:
        from keras_semppl.distribute.processes import join

        join()  # a no-op when the job was joined already
    devices = keras.distribution.list_devices()
    if name == "auto":
        name = "data_parallel" if len(devices) > 1 else "none"
    if name == "none":
        return _none("jax")
    if name not in ("data_parallel", "tpu"):
        raise ValueError(
            f"Distribution {name!r} is a TensorFlow strategy; with KERAS_BACKEND=jax "
            "use 'data_parallel' (GPUs or TPU cores alike) or 'auto'."
        )
    distribution = keras.distribution.DataParallel(devices=devices)
    return DistributionPlan(
        "data_parallel", "jax", len(devices), distribution,
        f"keras.distribution.DataParallel over {len(devices)} devices ({devices[0]}, ...)",
        distribution.scope,
    )


def _tf_plan(name, tpu):
    import tensorflow as tf

    if name == "auto":
        if tpu or _tf_tpu_visible(tf):
            name = "tpu"
        else:
            name = "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "none"
    if name == "none":
        return _none("tensorflow")
    if name in ("mirrored", "data_parallel"):
        strategy = tf.distribute.MirroredStrategy()
        name = "mirrored"
    elif name == "multi_worker":
        from keras_semppl.distribute import tf_multi_worker

        tf_multi_worker.apply()  # Keras' fit fails there without it (see that module)
        strategy = tf_multi_worker.strategy()
    elif name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    else:
        raise ValueError(f"Unknown distribution {name!r}; expected one of {NAMES}.")
    return DistributionPlan(
        name, "tensorflow", strategy.num_replicas_in_sync, strategy,
        f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replicas",
        strategy.scope,
    )


def _torch_plan(name):
    from keras_semppl.distribute import torch_processes

    if name == "auto":
        several = torch_processes.launched() or torch_processes.joined()
        name = "data_parallel" if several and torch_processes.world_size() > 1 else "none"
    if name == "none":
        return _none("torch")
    if name != "data_parallel":
        raise NotImplementedError(
            f"Distribution {name!r} is a TensorFlow strategy; with KERAS_BACKEND=torch use "
            "'data_parallel' (one process per device, started by torchrun) or 'auto'.")
    torch_processes.join()
    engine = torch_processes.TorchDataParallel()
    return DistributionPlan(
        "data_parallel", "torch", engine.world_size, engine,
        f"torch.distributed data parallel over {engine.world_size} processes "
        f"({engine.backend}; this is process {engine.rank})",
        engine.scope,
    )


def _tf_tpu_visible(tf):
    try:
        tf.distribute.cluster_resolver.TPUClusterResolver()
        return True
    except (ValueError, RuntimeError):  # no TPU address / not on a TPU VM
        return False


def resolve_distribution(name="auto", *, multi_host=False, tpu=None):
    """Resolve ``name`` for the current Keras backend into a `DistributionPlan`.

    Args:
        name: "auto" (several devices -> data parallel, else none), "none",
            "data_parallel" (JAX, torch; on TF an alias of "mirrored"), "mirrored",
            "multi_worker" (TF), or "tpu" (TF TPUStrategy; on JAX the TPU cores
            are ordinary devices, so DataParallel).
        multi_host: JAX only: call `keras.distribution.initialize()` first
            (one process per host, coordinator from the environment). On
            torch "data_parallel" always joins the job torchrun started.
        tpu: TF only: TPU name or address for `TPUClusterResolver` ("" = local
            TPU VM).

    Raises:
        ValueError: an unknown name, or a name the backend has no engine for.
        NotImplementedError: a TensorFlow strategy's name with the torch backend.
        RuntimeError: "data_parallel" on torch outside a torchrun job.
    """
    if name not in NAMES:
        raise ValueError(f"Unknown distribution {name!r}; expected one of {NAMES}.")
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_plan(name, multi_host)
    if backend == "tensorflow":
        return _tf_plan(name, tpu)
    if backend == "torch":
        return _torch_plan(name)
    raise ValueError(f"Unsupported Keras backend {backend!r}.")


__all__ = [
    "DistributionPlan",
    "NAMES",
    "all_gather",
    "num_replicas_in_sync",
    "resolve_distribution",
    "this_replica_rows",
]
