"""Runs the test suite: backend-free tests once, every other test once per backend.

Keras fixes its backend at import, so each backend gets its own pytest
process (``-m "not backend_free"``); the tests marked ``backend_free``
(tests/conftest.py) run once, in one more process under the first backend.
Each pass lists its 15 slowest tests. Exits non-zero if any pass fails; ends
with a combined 'N passed, N failed[, N skipped]' line.

Two passes run at a time by default (``--jobs``; 1 where the machine has
one core): much of a pass is single-threaded (tracing, compiling, starting
subprocesses), so two of them share two cores better than one does. Each
backend's tests are split by file into two passes (``--shards``), so that
both workers stay busy to the end. Each pass's output is printed whole when
it ends.

    python tests/run_all_backends.py [--backends jax,torch] [--jobs N] [--shards N] [pytest args...]

Without a test path among the arguments the whole ``tests`` folder runs.

Extra pytest arguments go to every pass (a ``-m`` expression among them is
combined with the pass's own with "and").
"""

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

BACKENDS = ("jax", "tensorflow", "torch")


def _split_marker(argv):
    """(argv without -m EXPR, EXPR or None)."""
    rest, expr = [], None
    i = 0
    while i < len(argv):
        if argv[i] == "-m" and i + 1 < len(argv):
            expr = argv[i + 1]
            i += 2
            continue
        rest.append(argv[i])
        i += 1
    return rest, expr


def _passes(backends, user_expr, where, shards, root):
    """[(label, backend, marker expression, test paths)].

    With the whole ``tests`` folder, each backend's tests are split by file
    into ``shards`` passes (files k, k + shards, ... of the sorted list), so
    that two workers stay busy to the end and no pass runs long.
    """
    def combine(expr):
        return expr if user_expr is None else f"({expr}) and ({user_expr})"

    parts = [("", where)]
    if where == ["tests"] and shards > 1:
        files = sorted(f"tests/{name}" for name in os.listdir(os.path.join(root, "tests"))
                       if name.startswith("test_") and name.endswith(".py"))
        parts = [(f" {k + 1}/{shards}", files[k::shards]) for k in range(shards)]
    backend_passes = [[(backend + suffix, backend, combine("not backend_free"), paths)
                       for suffix, paths in parts] for backend in backends]
    free = ("backend-free", backends[0], combine("backend_free"), where)
    # Longest first (JAX compiles most, then TensorFlow traces); the
    # backend-free pass goes before the last backend's shorter passes.
    passes = [p for group in backend_passes[:-1] for p in group]
    return passes + [free] + backend_passes[-1] if len(backends) > 1 else passes + [free]


def _take_option(argv, name, default):
    """(argv without ``name VALUE``, VALUE or ``default``)."""
    if name in argv:
        i = argv.index(name)
        if i + 1 >= len(argv):
            raise SystemExit(f"{name} needs a value.")
        return argv[:i] + argv[i + 2:], argv[i + 1]
    return argv, default


def _run_pass(label, backend, expr, where, argv, root, jax_cache):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               JAX_COMPILATION_CACHE_DIR=jax_cache)
    start = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "--durations=15", "-W", "ignore::DeprecationWarning", "-m", expr] + where + argv,
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return proc, time.time() - start


def main(argv):
    argv, backends = _take_option(argv, "--backends", ",".join(BACKENDS))
    backends = tuple(backends.split(","))
    argv, jobs = _take_option(argv, "--jobs", "2" if (os.cpu_count() or 1) > 1 else "1")
    if not jobs.isdigit() or int(jobs) < 1:
        raise SystemExit(f"--jobs must be a positive integer; got {jobs!r}.")
    argv, shards = _take_option(argv, "--shards", "2")
    if not shards.isdigit() or int(shards) < 1:
        raise SystemExit(f"--shards must be a positive integer; got {shards!r}.")
    argv, user_expr = _split_marker(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # Test paths given (tests/test_x.py[::name]): run those, not the whole folder.
    named = any(not a.startswith("-") and os.path.exists(os.path.join(root, a.split("::")[0]))
                for a in argv)
    where = [] if named else ["tests"]
    totals = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    failed = []
    overall = time.time()
    passes = _passes(backends, user_expr, where, int(shards), root)
    print(f"{len(passes)} passes, {jobs} at a time: "
          + "; ".join(f"{label} (KERAS_BACKEND={backend}, -m {expr!r})"
                      for label, backend, expr, _ in passes), flush=True)
    # One JAX compilation cache for the run's passes and their subprocesses
    # (tests/conftest.py): each distinct step compiles once per run.
    jax_cache = tempfile.mkdtemp(prefix="keras-semppl-jax-cache-")
    with concurrent.futures.ThreadPoolExecutor(int(jobs)) as pool:
        futures = {pool.submit(_run_pass, label, backend, expr, paths, argv, root, jax_cache):
                   label for label, backend, expr, paths in passes}
        for future in concurrent.futures.as_completed(futures):
            label = futures[future]
            proc, seconds = future.result()
            print(f"\n===== {label} =====", flush=True)
            print(proc.stdout[-20000:], flush=True)
            summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            for count, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summary):
                totals["error" if word.startswith("error") else word] += int(count)
            print(f"===== {label}: {summary} ({seconds:.0f} s) =====", flush=True)
            # 5: no test selected (e.g. a -k that matches nothing in this pass).
            if proc.returncode not in (0, 5):
                failed.append(label)
    shutil.rmtree(jax_cache, ignore_errors=True)
    print(f"\npasses: {', '.join(label for label, _, _, _ in passes)}; failing: "
          f"{', '.join(failed) or 'none'}; {time.time() - overall:.0f} s in all")
    line = f"{totals['passed']} passed, {totals['failed'] + totals['error']} failed"
    if totals["skipped"]:
        line += f", {totals['skipped']} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
