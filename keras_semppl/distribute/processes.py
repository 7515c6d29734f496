"""One training job over several processes: join it, who writes, shards.

JAX below; TensorFlow workers register here once their strategy is made
(`keras_semppl.cli.train_workers`); PyTorch: the job is the one torchrun
started (RANK, WORLD_SIZE, MASTER_ADDR set), `join` initialises its
torch.distributed group (`keras_semppl.distribute.torch_processes`), and
the rest (who writes, scratch folders, the batch check) is the same.

Every process runs the same program (SPMD). After `join`, JAX sees the
devices of all processes; `keras.distribution.DataParallel` over them
(`resolve_distribution`) makes every compiled step one computation of the
whole job: gradients are averaged over the global batch, and SemPPL's queue
is written from the global batch, so every process holds the queue a single
device would hold. Keras shards a `tf.data` input per process
(`DataParallel(auto_shard_dataset=True)`: each process reads
global_batch / num_processes examples of every batch, its process id picking
which), so the global batch must be a multiple of the process count
(`check_global_batch`). NumPy inputs are not sharded by Keras 3.15: pass a
`tf.data.Dataset`.

Only the first process writes into the run's folders (`is_chief`); saving
a model is a collective step (it reads sharded variables), so every process
saves at the same points, the others into a temporary folder
(`scratch_folder`, as TensorFlow's multi-worker guide asks).
`keras_semppl.callbacks.AtomicCheckpoint` does so by itself; `semppl train`
sends the other processes' outputs to a temporary folder
(`keras_semppl.cli.train_processes`).

    join("10.0.0.1:1234", num_processes=2, process_id=0)   # on host 0
    join("10.0.0.1:1234", num_processes=2, process_id=1)   # on host 1

or set Keras' own variables KERAS_DISTRIBUTION_JOB_ADDRESSES,
KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID and call
``join()``. `keras_semppl.distribute.launch` starts N local processes so.

TensorFlow workers (`MultiWorkerMirroredStrategy`) join when the strategy
is made; `resolve_distribution("multi_worker")` records the worker's place
(`set_tf_worker`), so that `process_index`, `is_chief` and `scratch_folder`
answer for them as for JAX processes (the chief, task 0, is process 0).
"""

import os

ENV_VARS = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
            "KERAS_DISTRIBUTION_PROCESS_ID")

_joined = False
_scratch = {}  # name -> folder of scratch_folder
_tf_worker = None  # (index, count) of this TensorFlow worker, once its strategy exists


def _torch():
    """`torch_processes` with the torch backend, else None."""
    import keras

    if keras.backend.backend() != "torch":
        return None
    from keras_semppl.distribute import torch_processes

    return torch_processes


def requested(coordinator_address=None, num_processes=None, process_id=None):
    """True when the arguments, Keras' variables or (torch) torchrun's ask for a job."""
    torch_processes = _torch()
    return (any(v is not None for v in (coordinator_address, num_processes, process_id))
            or any(os.environ.get(name) for name in ENV_VARS)
            or (torch_processes is not None and torch_processes.launched()))


def join(coordinator_address=None, num_processes=None, process_id=None):
    """Joins the job via `keras.distribution.initialize`; returns the process count.

    Call it first, before anything runs on a device. Arguments left None come
    from KERAS_DISTRIBUTION_* (or, on a Cloud TPU VM or a SLURM job, from
    JAX's own cluster detection). A second call returns at once.

    On torch the job is torchrun's: the arguments must be None.

    Raises:
        NotImplementedError: with TensorFlow, or arguments with torch.
        ValueError: a process id outside [0, num_processes).
        RuntimeError: torch outside a torchrun job.
    """
    global _joined
    import keras

    if _joined:
        return process_count()
    backend = keras.backend.backend()
    if backend == "torch":
        if any(v is not None for v in (coordinator_address, num_processes, process_id)):
            raise NotImplementedError(
                "With KERAS_BACKEND=torch, torchrun starts the job and sets each process' "
                "rank: torchrun --nproc-per-node N -m keras_semppl.cli.main train ... "
                "(the coordinator, process count and id flags are JAX's).")
        count = _torch().join()
        _joined = True
        return count
    if backend != "jax":
        raise NotImplementedError(
            f"Several processes need KERAS_BACKEND=jax (got {backend!r}); with TensorFlow "
            "use --distribute multi_worker and TF_CONFIG.")
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"num_processes must be positive; got {num_processes}.")
    if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes}); got {process_id}.")
    keras.distribution.initialize(job_addresses=coordinator_address,
                                  num_processes=num_processes, process_id=process_id)
    _joined = True
    return process_count()


def set_tf_worker(index, count):
    """Records this process as worker ``index`` of ``count`` of a TensorFlow job."""
    global _tf_worker
    if not 0 <= index < count:
        raise ValueError(f"index must be in [0, {count}); got {index}.")
    _tf_worker = (int(index), int(count))


def _jax():
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

    return jax


def process_count():
    """Processes in the job (1 outside a multi-process job).

    On JAX this starts the devices: call `join` first when there is a job to join.
    """
    torch_processes = _torch()
    if torch_processes is not None:
        return torch_processes.world_size()
    if _tf_worker is not None:
        return _tf_worker[1]
    jax = _jax()
    return 1 if jax is None else jax.process_count()


def process_index():
    """This process' id, 0 to process_count() - 1 (0 outside a multi-process job)."""
    torch_processes = _torch()
    if torch_processes is not None:
        return torch_processes.rank()
    if _tf_worker is not None:
        return _tf_worker[0]
    jax = _jax()
    return 0 if jax is None else jax.process_index()


def is_chief():
    """True on the process that writes files: process 0 (always true with one process)."""
    return process_index() == 0


def scratch_folder(name):
    """A temporary folder for the writes named ``name`` on a process other than 0.

    Saving a model reads every variable, a collective step in a JAX
    multi-process job: every process must save at the same points, and the
    ones that are not process 0 save here (TensorFlow's multi-worker guide
    asks the same of its workers). Made on first use, removed when the process exits.
    """
    if name not in _scratch:
        import atexit
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix=f"semppl-process{process_index()}-{name}-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _scratch[name] = folder
    return _scratch[name]


def check_global_batch(global_batch_size, flag="global batch size"):
    """ValueError unless every process reads the same share of each global batch."""
    count = process_count()
    if global_batch_size % count:
        raise ValueError(
            f"{flag} {global_batch_size} must be a multiple of the {count} processes "
            f"(each reads {global_batch_size} / {count} examples of every batch).")
