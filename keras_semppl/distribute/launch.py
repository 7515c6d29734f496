"""Start a multi-process job on this machine, to try it before several hosts.

    python -m keras_semppl.distribute.launch --num-processes 2 \\
        --devices-per-process 2 -- semppl train --batch-size 64 ...
    python -m keras_semppl.distribute.launch --num-processes 2 --tf-workers \\
        -- semppl train --distribute multi_worker --batch-size 64 ...

starts the command once per process, each in its own process group: for
JAX with Keras' KERAS_DISTRIBUTION_* variables set (coordinator
``localhost:<a free port>``, process ids 0..N-1); with ``--tf-workers``
with each TensorFlow worker's TF_CONFIG (N workers on free local ports).
When a process fails (or the ``--timeout`` passes) the others are stopped
and the job fails, naming the process, instead of waiting in a collective.
On several hosts run the command on each host yourself
(`keras_semppl.cli.train_processes`, `keras_semppl.cli.train_workers`).
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time


def free_port():
    """A TCP port that was free a moment ago on localhost."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


class JobFailed(RuntimeError):
    """A process of the job failed or the job ran past its timeout."""


def _stop(procs, grace=5.0):
    """Stops every process group still running: SIGTERM, then SIGKILL."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _describe(code):
    return f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"


def tf_config(ports, index):
    """The TF_CONFIG of worker ``index`` of a cluster on localhost ``ports``."""
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def launch(command, num_processes, devices_per_process=None, timeout=None, env=None,
           port=None, stdout=None, poll=0.2, tf_workers=False):
    """Runs ``command`` (a list) as processes 0..num_processes-1 of one job.

    Args:
        devices_per_process: JAX: simulate this many CPU devices per process
            (XLA_FLAGS=--xla_force_host_platform_device_count); None: real devices.
        tf_workers: TensorFlow workers: set each one's TF_CONFIG (free local
            ports) instead of KERAS_DISTRIBUTION_*.
        timeout: seconds for the whole job (None: no limit).
        env: base environment (default: this process').
        stdout: None (inherit) or a callable ``(process_id) -> file`` for its
            stdout and stderr.

    Returns:
        the process ids' exit statuses, all 0.

    Raises:
        JobFailed: a process failed (the others are stopped first) or the
            timeout passed (all are stopped).
    """
    if num_processes < 1:
        raise ValueError(f"num_processes must be positive; got {num_processes}.")
    if not command:
        raise ValueError("command must not be empty.")
    if tf_workers and (devices_per_process or port):
        raise ValueError("devices_per_process and port are for JAX jobs; TensorFlow workers "
                         "(tf_workers=True) use their local devices and free ports.")
    base = dict(os.environ if env is None else env)
    address = f"localhost:{port or free_port()}"
    ports = [free_port() for _ in range(num_processes)] if tf_workers else []
    procs = []
    try:
        for index in range(num_processes):
            if tf_workers:
                child = dict(base, TF_CONFIG=tf_config(ports, index))
            else:
                child = dict(base, KERAS_DISTRIBUTION_JOB_ADDRESSES=address,
                             KERAS_DISTRIBUTION_NUM_PROCESSES=str(num_processes),
                             KERAS_DISTRIBUTION_PROCESS_ID=str(index))
            if devices_per_process:
                child["XLA_FLAGS"] = (base.get("XLA_FLAGS", "") + " --xla_force_host_platform"
                                      f"_device_count={devices_per_process}").strip()
            out = None if stdout is None else stdout(index)
            procs.append(subprocess.Popen(command, env=child, stdout=out,
                                          stderr=None if out is None else subprocess.STDOUT,
                                          start_new_session=True))
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            codes = [proc.poll() for proc in procs]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                index, code = failed[0]
                raise JobFailed(f"process {index} of {num_processes} {_describe(code)}; "
                                "stopped the others.")
            if all(c == 0 for c in codes):
                return codes
            if deadline is not None and time.monotonic() > deadline:
                waiting = [i for i, c in enumerate(codes) if c is None]
                raise JobFailed(f"the job ran past its timeout of {timeout:g} s (processes "
                                f"{waiting} still running); stopped them.")
            time.sleep(poll)
    finally:
        _stop(procs)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_semppl.distribute.launch",
        description="Run COMMAND as N processes of one JAX job (or N TensorFlow "
                    "workers) on this machine.")
    parser.add_argument("--num-processes", type=int, required=True, metavar="N",
                        help="processes to start (ids 0..N-1).")
    parser.add_argument("--devices-per-process", type=int, default=None, metavar="D",
                        help="JAX: simulate D CPU devices per process (default: real "
                             "devices).")
    parser.add_argument("--tf-workers", action="store_true",
                        help="start N TensorFlow workers, each with its TF_CONFIG, instead "
                             "of a JAX job (for --distribute multi_worker).")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="fail the job after S seconds (default: no limit).")
    parser.add_argument("--port", type=int, default=None,
                        help="JAX: coordinator port on localhost (default: a free one).")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="the command, after --, e.g. -- semppl train ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --, e.g. -- semppl train --batch-size 64")
    if args.num_processes < 1:
        parser.error(f"--num-processes must be positive; got {args.num_processes}.")
    if args.tf_workers and (args.devices_per_process or args.port):
        parser.error("--devices-per-process and --port are for JAX jobs, not --tf-workers.")
    try:
        launch(command, args.num_processes, args.devices_per_process, args.timeout,
               port=args.port, tf_workers=args.tf_workers)
    except JobFailed as error:
        raise SystemExit(f"launch: {error}") from None
    except KeyboardInterrupt:
        raise SystemExit("launch: interrupted; stopped every process.") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
