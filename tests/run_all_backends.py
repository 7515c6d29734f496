"""Runs the whole test suite once per Keras backend (jax, tensorflow, torch).

Each backend gets its own pytest process, because Keras fixes its backend at
import. Exits non-zero if any backend fails; ends with a combined
'N passed, N failed' line.

    python tests/run_all_backends.py [--backends jax,torch] [pytest args...]
"""

import os
import re
import subprocess
import sys
import time

BACKENDS = ("jax", "tensorflow", "torch")


def main(argv):
    backends = BACKENDS
    if argv[:1] == ["--backends"]:
        backends = tuple(argv[1].split(","))
        argv = argv[2:]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    totals = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    failed_backends = []
    for backend in backends:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        start = time.time()
        print(f"\n===== KERAS_BACKEND={backend} =====", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
             "-W", "ignore::DeprecationWarning", "tests"] + argv,
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        print(proc.stdout[-20000:], flush=True)
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        for count, word in re.findall(r"(\d+) (passed|failed|skipped|error)", summary):
            totals[word] += int(count)
        print(f"===== {backend}: {summary} ({time.time() - start:.0f} s) =====", flush=True)
        if proc.returncode != 0:
            failed_backends.append(backend)
    print(f"\nbackends: {', '.join(backends)}; failing: {', '.join(failed_backends) or 'none'}")
    line = f"{totals['passed']} passed, {totals['failed'] + totals['error']} failed"
    if totals["skipped"]:
        line += f", {totals['skipped']} skipped"
    print(line)
    return 1 if failed_backends else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
