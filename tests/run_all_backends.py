"""Runs the test suite: backend-free tests once, every other test once per backend.

Keras fixes its backend at import, so each backend gets its own pytest
process (``-m "not backend_free"``); the tests marked ``backend_free``
(tests/conftest.py) run once, in one more process under the first backend.
Each pass lists its 15 slowest tests. Exits non-zero if any pass fails; ends
with a combined 'N passed, N failed[, N skipped]' line.

Two passes run at a time by default (``--jobs``; 1 where the machine has
one core): much of a pass is single-threaded (tracing, compiling, starting
subprocesses), so two of them share two cores better than one does. Each
pass's output is printed whole when it ends.

    python tests/run_all_backends.py [--backends jax,torch] [--jobs N] [pytest args...]

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


def _passes(backends, user_expr):
    """[(label, backend, marker expression)]."""
    def combine(expr):
        return expr if user_expr is None else f"({expr}) and ({user_expr})"

    # The backend passes take longest; with two at a time, starting them first
    # lets the short backend-free pass fill the gap at the end.
    passes = [(backend, backend, combine("not backend_free")) for backend in backends]
    passes.append(("backend-free", backends[0], combine("backend_free")))
    return passes


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
    argv, user_expr = _split_marker(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # Test paths given (tests/test_x.py[::name]): run those, not the whole folder.
    named = any(not a.startswith("-") and os.path.exists(os.path.join(root, a.split("::")[0]))
                for a in argv)
    where = [] if named else ["tests"]
    totals = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    failed = []
    overall = time.time()
    passes = _passes(backends, user_expr)
    print(f"{len(passes)} passes, {jobs} at a time: "
          + "; ".join(f"{label} (KERAS_BACKEND={backend}, -m {expr!r})"
                      for label, backend, expr in passes), flush=True)
    # One JAX compilation cache for the run's passes and their subprocesses
    # (tests/conftest.py): each distinct step compiles once per run.
    jax_cache = tempfile.mkdtemp(prefix="keras-semppl-jax-cache-")
    with concurrent.futures.ThreadPoolExecutor(int(jobs)) as pool:
        futures = {pool.submit(_run_pass, label, backend, expr, where, argv, root, jax_cache):
                   label for label, backend, expr in passes}
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
    print(f"\npasses: backend-free, {', '.join(backends)}; failing: "
          f"{', '.join(failed) or 'none'}; {time.time() - overall:.0f} s in all")
    line = f"{totals['passed']} passed, {totals['failed'] + totals['error']} failed"
    if totals["skipped"]:
        line += f", {totals['skipped']} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
