"""Data-parallel `fit` over torch.distributed processes: the torch-only part.

Keras 3.15 has no torch distribution for `fit`. This module is the thin
layer that lets SemPPL train over N processes anyway, one per device (gloo
on CPU, NCCL on GPU), started by ``torchrun``. Retire it when Keras ships
its own torch DataParallel: `resolve_distribution("data_parallel")` would
then return Keras' engine, as it does on JAX.

What it does, and nothing more (the maths stays in backend-free
`keras.ops`, in `keras_semppl.distribute.replicas` and the model):

* `join`: the process group from torchrun's RANK / WORLD_SIZE /
  MASTER_ADDR / MASTER_PORT (LOCAL_RANK picks the GPU);
* `TorchDataParallel`: the engine of a `DistributionPlan`; inside its
  ``scope()`` SemPPL's `fit` gives each process its rows of every global
  batch (`keras_semppl.data.global_batches`), starts every process from
  process 0's variables, and runs each training step as one replica of R;
* the collectives the step needs: `all_gather` (labelled target
  projections, labels and ids before the queue write), `all_reduce_sum`
  (differentiable: synchronised BatchNorm), `sum_gradients` (before the
  optimizer step; the loss is already divided by R) and
  `TorchDataParallel.average_variables` (after it: the moving statistics of
  the BatchNorm layers that normalise each process' rows alone, so that
  every process keeps the same variables).

BatchNorm follows TensorFlow's rule: a layer with ``synchronized=True``
(the heads', by SemPPL's ``sync_batch_norm=True``) normalises with the
global batch's statistics; any other layer with its process' rows, its
moving statistics averaged over the processes after every step.
`semppl train` switches every BatchNorm to the global batch's statistics
(`keras_semppl.callbacks.SynchronizedBatchNorm`), as on TensorFlow.

A collective that fails (a process of the job died) raises a RuntimeError
naming this process, instead of leaving the traceback of the transport.
"""

import contextlib
import os

import torch
import torch.distributed as dist

#: The variables torchrun sets for every process (MASTER_PORT too).
LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR")

_scope = None  # the engine whose scope() is open
_fitting = None  # the engine of the `fit` that is running
_step = None  # the engine of the training step that is running


def launched():
    """True when a launcher (torchrun) described a job in the environment."""
    return all(os.environ.get(name) for name in LAUNCHER_VARS)


def joined():
    """True once this process is in an initialised torch.distributed group."""
    return dist.is_available() and dist.is_initialized()


def world_size():
    """Processes in the job: the group's size, else WORLD_SIZE, else 1."""
    if joined():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", 1)) if launched() else 1


def rank():
    """This process' rank: the group's, else RANK, else 0."""
    if joined():
        return dist.get_rank()
    return int(os.environ.get("RANK", 0)) if launched() else 0


def join():
    """Initialises the default process group from torchrun's variables; returns R.

    gloo on CPU; NCCL when CUDA is available, each process on the GPU of its
    LOCAL_RANK (call it before any model is built). A second call returns
    at once; a group made by the caller is used as it is.

    Raises:
        RuntimeError: no group and no launcher variables.
    """
    if joined():
        return dist.get_world_size()
    if not launched():
        missing = [name for name in LAUNCHER_VARS if not os.environ.get(name)]
        raise RuntimeError(
            "data_parallel with KERAS_BACKEND=torch needs one process per device, started "
            f"by torchrun (missing {', '.join(missing)}): torchrun --nproc-per-node N "
            "-m keras_semppl.cli.main train ..., or call "
            "torch.distributed.init_process_group first.")
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    return dist.get_world_size()


def _collective(what, function, *args):
    try:
        return function(*args)
    except RuntimeError as error:
        raise RuntimeError(
            f"keras-semppl: the {what} across the {dist.get_world_size()} torch processes "
            f"failed on process {dist.get_rank()}; another process of the job has probably "
            f"stopped (see its log), and this one cannot go on. ({error})") from error


class TorchDataParallel:
    """The data-parallel engine of a torch `DistributionPlan` (one process, one replica).

    Attributes:
        world_size: R, the processes (= replicas) of the job.
        rank: this process' replica index.
        backend: the process group's backend ("gloo" or "nccl").
    """

    def __init__(self):
        self.world_size = dist.get_world_size()
        self.rank = dist.get_rank()
        self.backend = dist.get_backend()
        self._averaged = []

    @contextlib.contextmanager
    def scope(self):
        """`fit` called inside trains data-parallel (see the module docstring)."""
        global _scope
        previous, _scope = _scope, self
        try:
            yield self
        finally:
            _scope = previous

    @contextlib.contextmanager
    def fitting(self, averaged=()):
        """While one `fit` runs: its training steps are replicas of this engine.

        Args:
            averaged: variables that `after_step` replaces by their mean over
                the processes (the moving statistics of BatchNorm layers that
                see only this process' rows).
        """
        global _fitting
        previous, _fitting = _fitting, self
        self._averaged = list(averaged)
        try:
            yield
        finally:
            _fitting = previous
            self._averaged = []

    def after_step(self):
        """After a training step: the `fitting` variables averaged over the processes."""
        if self._averaged:
            self.average_variables(self._averaged)

    def broadcast_variables(self, variables):
        """Overwrites ``variables`` (Keras variables) with process 0's values."""
        tensors = [v.value for v in variables]
        with torch.no_grad():
            for group in _by_dtype(tensors).values():
                flat = torch.cat([_as_int_if_unsigned(t).reshape(-1) for t in group])
                _collective("broadcast of process 0's variables", dist.broadcast, flat, 0)
                for t, part in zip(group, flat.split([t.numel() for t in group])):
                    _as_int_if_unsigned(t).copy_(part.view_as(t))

    def average_variables(self, variables):
        """Replaces each of ``variables`` by its mean over the processes (one all-reduce)."""
        tensors = [v.value for v in variables]
        with torch.no_grad():
            for group in _by_dtype(tensors).values():
                flat = torch.cat([t.reshape(-1) for t in group])
                _collective("all-reduce of BatchNorm moving statistics", dist.all_reduce, flat)
                flat /= self.world_size
                for t, part in zip(group, flat.split([t.numel() for t in group])):
                    t.copy_(part.view_as(t))


def engine_for_fit():
    """The engine `fit` trains with, or None for a one-process `fit`.

    Raises:
        RuntimeError: inside a group of several processes, outside the scope
            of a data_parallel plan (every process would train its own copy).
    """
    if not joined() or dist.get_world_size() == 1:
        return None
    if _scope is None:
        raise RuntimeError(
            f"keras-semppl: fit() runs in a torch.distributed group of "
            f"{dist.get_world_size()} processes but outside a data-parallel scope; without "
            "it every process would train its own queue and weights. Build, compile and "
            "fit the model inside `resolve_distribution('data_parallel').scope()` (see the "
            "documentation, 'Distributed training').")
    return _scope


@contextlib.contextmanager
def replica_step():
    """Marks a training step of the running data-parallel `fit`; yields its engine or None."""
    global _step
    previous, _step = _step, _fitting
    try:
        yield _step
    finally:
        _step = previous


def step_world_size():
    """R inside a data-parallel training step, else 1."""
    return 1 if _step is None else _step.world_size


def step_rank():
    """This replica's index inside a data-parallel training step, else 0."""
    return 0 if _step is None else _step.rank


def all_gather(x, axis=0):
    """Every process' ``x`` concatenated along ``axis``, in rank order (no gradient)."""
    x = x.detach().contiguous()
    as_bytes = x.dtype == torch.bool
    if as_bytes:
        x = x.to(torch.uint8)
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    _collective("all-gather of the global batch", dist.all_gather, parts, x)
    out = torch.cat(parts, dim=axis)
    return out.to(torch.bool) if as_bytes else out


class _AllReduceSum(torch.autograd.Function):
    """y = sum over processes of x; the gradient of x is the sum of y's gradients."""

    @staticmethod
    def forward(ctx, x):
        y = x.clone()
        _collective("all-reduce of BatchNorm statistics", dist.all_reduce, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        _collective("all-reduce of BatchNorm gradients", dist.all_reduce, grad)
        return grad


def all_reduce_sum(x):
    """Sum of ``x`` over the processes, differentiable (same shape)."""
    return _AllReduceSum.apply(x)


def sum_gradients(grads):
    """Sums each gradient over the processes in place (None entries stay None).

    One all-reduce per dtype over the flattened gradients. The loss each
    process differentiates is already divided by R, so the sum is the
    gradient of the global batch's mean loss.
    """
    present = [g for g in grads if g is not None]
    with torch.no_grad():
        for group in _by_dtype(present).values():
            flat = torch.cat([g.reshape(-1) for g in group])
            _collective("all-reduce of the gradients", dist.all_reduce, flat)
            for g, part in zip(group, flat.split([g.numel() for g in group])):
                g.copy_(part.view_as(g))


def _by_dtype(tensors):
    groups = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    return groups


def _as_int_if_unsigned(t):
    """uint32/uint64 tensors (seed states) viewed as the signed type: gloo has no unsigned."""
    unsigned = {torch.uint32: torch.int32, torch.uint64: torch.int64}
    return t.view(unsigned[t.dtype]) if t.dtype in unsigned else t
