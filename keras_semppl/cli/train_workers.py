"""`semppl train --distribute multi_worker`: one TensorFlow job of several workers.

Every worker runs the same command with its own TF_CONFIG (the cluster, the
same everywhere, and this worker's task):

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": 0}}' \\
        KERAS_BACKEND=tensorflow semppl train --distribute multi_worker ...

All workers train one model with `MultiWorkerMirroredStrategy`; each feeds
its replicas their rows of every global batch, so ``--batch-size`` must be a
multiple of the worker count. The chief (worker 0, or the "chief" task)
writes ``--output``, the history, ``--plots``, ``--logdir``,
``--report-json`` and the checkpoints; the others write theirs to a
temporary folder removed at exit (TensorFlow's multi-worker guide).
``--checkpoint-dir`` must be one folder every worker can read; rerunning
the same commands resumes from its latest checkpoint. Importing this module
imports no Keras.
"""

import json
import os


def _fail(message):
    raise SystemExit(f"--distribute multi_worker: {message}")


def tf_config_workers(text):
    """(this worker's process index, worker count) of a TF_CONFIG value.

    The chief (a "chief" task, else worker 0) is process 0. SystemExit
    naming TF_CONFIG and what was expected when the value does not fit.
    """
    if not text:
        _fail('needs TF_CONFIG, e.g. {"cluster": {"worker": ["host0:port", "host1:port"]}, '
              '"task": {"type": "worker", "index": 0}}, set on every worker with its own '
              "index.")
    try:
        config = json.loads(text)
    except ValueError as error:
        _fail(f"TF_CONFIG is not valid JSON ({error}).")
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        _fail('TF_CONFIG must be an object with "cluster" and "task" objects; '
              f"got {text!r}.")
    chiefs, workers = cluster.get("chief", []), cluster.get("worker", [])
    if not isinstance(chiefs, list) or not isinstance(workers, list) or len(chiefs) > 1 \
            or not chiefs + workers:
        _fail('TF_CONFIG\'s "cluster" must list "worker" addresses (and at most one '
              f'"chief"); got {cluster!r}.')
    task_type, index = task.get("type"), task.get("index", 0)
    size = {"chief": len(chiefs), "worker": len(workers)}.get(task_type)
    if not size or isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < size:
        _fail(f'TF_CONFIG\'s "task" must be {{"type": "worker", "index": I}} with I in '
              f"[0, {len(workers)}) (or the chief); got {task!r}.")
    return (index if task_type == "chief" else len(chiefs) + index), len(chiefs) + len(workers)


def join_workers(plan):
    """Joins the TensorFlow job of TF_CONFIG; returns the plan this worker runs.

    Checks the flags first (SystemExit naming them), then makes the strategy,
    which waits for every worker. On every worker but the chief the outputs
    go to a temporary folder. Call it before anything runs on a device.
    """
    index, count = tf_config_workers(os.environ.get("TF_CONFIG"))
    if any(v is not None for v in (plan.coordinator_address, plan.num_processes,
                                   plan.process_id)):
        _fail("--coordinator-address/--num-processes/--process-id make a JAX job; "
              "TensorFlow workers take their places from TF_CONFIG.")
    if plan.batch_size % count:
        _fail(f"--batch-size {plan.batch_size} must be a multiple of the {count} workers of "
              "TF_CONFIG (each feeds an equal share of every batch).")
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        _fail(f"needs KERAS_BACKEND=tensorflow (got {backend!r}); with JAX, use "
              "--num-processes and --coordinator-address.")
    from keras_semppl.cli.train_processes import outputs_of_process
    from keras_semppl.distribute import processes
    from keras_semppl.distribute import tf_multi_worker

    print(f"worker {index} of {count}: waiting for the others (TF_CONFIG)")
    tf_multi_worker.strategy()  # records this worker's place in `processes`
    return outputs_of_process(plan, processes.process_index())
