"""`semppl train` in a job of several processes: flags, joining, who writes.

PyTorch: torchrun starts the processes and sets their ranks; no flags::

    KERAS_BACKEND=torch torchrun --nproc-per-node 2 -m keras_semppl.cli.main train ...

TensorFlow workers (``--distribute multi_worker``): `keras_semppl.cli.train_workers`.

JAX: run the same command on every host, each with its own ``--process-id``
(or with Keras' KERAS_DISTRIBUTION_* variables set instead of the flags):

    semppl train --coordinator-address HOST0:PORT --num-processes 2 --process-id 0 ...
    semppl train --coordinator-address HOST0:PORT --num-processes 2 --process-id 1 ...

Every process trains (one `DataParallel` mesh over all their devices) and
evaluates; process 0 writes ``--output``, the history, ``--plots``,
``--logdir``, ``--report-json`` and the checkpoints, the others write to a
temporary folder of their own, removed at exit (every process saves: on
JAX saving is a collective step). ``--checkpoint-dir`` must be one folder that every process can read
(a shared file system or bucket on several hosts). Importing this module
imports no Keras (see `keras_semppl.cli.train_plan`).
"""

import dataclasses


def add_arguments(parser):
    """The three flags of a multi-process job."""
    parser.add_argument("--coordinator-address", default=None, metavar="HOST:PORT",
                        help="JAX multi-process job: address of process 0, the same on every "
                             "process (default: KERAS_DISTRIBUTION_JOB_ADDRESSES).")
    parser.add_argument("--num-processes", type=int, default=None, metavar="N",
                        help="JAX multi-process job: number of processes "
                             "(default: KERAS_DISTRIBUTION_NUM_PROCESSES, else one).")
    parser.add_argument("--process-id", type=int, default=None, metavar="I",
                        help="JAX multi-process job: this process' id, 0 to N-1; process 0 "
                             "writes the files (default: KERAS_DISTRIBUTION_PROCESS_ID).")


def check_flags(args):
    """SystemExit naming the flag when the process flags do not fit together."""
    n, i = args.num_processes, args.process_id
    if n is not None and n < 1:
        raise SystemExit(f"--num-processes must be positive; got {n}.")
    if i is not None and n is None:
        raise SystemExit("--process-id needs --num-processes.")
    if i is not None and not 0 <= i < n:
        raise SystemExit(f"--process-id must be in [0, --num-processes={n}); got {i}.")
    address = args.coordinator_address
    if address is not None and (":" not in address or not address.rsplit(":", 1)[1].isdigit()):
        raise SystemExit(f"--coordinator-address must be HOST:PORT; got {address!r}.")
    if n is not None and n > 1 and args.batch_size % n:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of "
                         f"--num-processes={n} (each process reads an equal share of "
                         "every batch).")


def join_job(plan):
    """Joins the job the plan's flags (or KERAS_DISTRIBUTION_*) describe.

    Returns the plan to run: unchanged with one process; else with
    ``distribute`` "data_parallel" and, on every process but 0, the outputs
    sent to a temporary folder. Call it before anything runs on a device.
    """
    from keras_semppl.distribute import processes

    if plan.distribute == "multi_worker":  # TensorFlow workers (TF_CONFIG)
        from keras_semppl.cli.train_workers import join_workers

        return join_workers(plan)
    if not processes.requested(plan.coordinator_address, plan.num_processes,
                               plan.process_id):
        return plan
    if plan.distribute not in ("auto", "none", "data_parallel", "tpu"):
        raise SystemExit(f"--distribute {plan.distribute}: a multi-process job trains "
                         "with data_parallel (the default there).")
    try:
        count = processes.join(plan.coordinator_address, plan.num_processes, plan.process_id)
        processes.check_global_batch(plan.batch_size, "--batch-size")
    except (ValueError, NotImplementedError, RuntimeError) as error:
        raise SystemExit(f"semppl train, several processes: {error}") from None
    index = processes.process_index()
    print(f"process {index} of {count}")
    return outputs_of_process(dataclasses.replace(plan, distribute="data_parallel"), index)


def outputs_of_process(plan, index):
    """The plan with, on every process but 0, its outputs in a temporary folder."""
    if index == 0:
        return plan
    from keras_semppl.distribute import processes

    scratch = processes.scratch_folder("outputs")
    print(f"process {index} writes into {scratch} (process 0 writes the run's files)")
    return dataclasses.replace(
        plan, output=f"{scratch}/model.keras", plots=plan.plots and f"{scratch}/plots",
        logdir=plan.logdir and f"{scratch}/logs",
        report_json=plan.report_json and f"{scratch}/report.json")
