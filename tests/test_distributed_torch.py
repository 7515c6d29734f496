"""torch: what happens without a data-parallel plan.

`fit` inside a `torch.distributed` process group of 2 gloo processes, but
outside the scope of `resolve_distribution("data_parallel")`, must raise an
error that says what to do, rather than train two diverging queues.
Outside a torchrun job, "auto" is one device and "data_parallel" says it
needs torchrun. (Data-parallel training itself:
tests/test_distributed_torch_processes.py.)
"""

import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_ONLY = pytest.mark.backend(
    "torch", reason="the torch.distributed refusal (the torch trainer is only imported there)")


@TORCH_ONLY
def test_resolve_distribution_on_torch():
    from keras_semppl.distribute import resolve_distribution

    assert resolve_distribution("none").num_replicas == 1
    plan = resolve_distribution("auto")
    assert plan.name == "none"
    with plan.scope():
        pass
    for name in ("mirrored", "multi_worker", "tpu"):
        with pytest.raises(NotImplementedError, match="TensorFlow strategy.*'data_parallel'"):
            resolve_distribution(name)


@TORCH_ONLY
def test_data_parallel_outside_torchrun_names_the_launcher(monkeypatch):
    from keras_semppl.distribute import resolve_distribution

    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="started by torchrun .missing RANK, WORLD_SIZE, "
                                           "MASTER_ADDR.: torchrun --nproc-per-node N"):
        resolve_distribution("data_parallel")


@TORCH_ONLY
def test_jax_process_flags_point_to_torchrun():
    from keras_semppl.distribute import processes

    with pytest.raises(NotImplementedError, match="torchrun starts the job"):
        processes.join(num_processes=2, process_id=0)


@TORCH_ONLY
def test_fit_in_a_two_process_gloo_group_is_refused():
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=ROOT, SEMPPL_TMP=tmp)
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__)], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=240,
        )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert out.count("REFUSED world=2") == 2, out[-5000:]


# --------------------------------------------------------------- subprocess
def _worker(rank, tmp):
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=2
    )
    from tests.toy_data import tiny_model, toy_batch_dict

    model = tiny_model()
    model.compile(optimizer="sgd")
    try:
        model.fit(toy_batch_dict(n=32), batch_size=16, epochs=1, verbose=0)
    except RuntimeError as err:
        assert "outside a data-parallel scope" in str(err), err
        assert "resolve_distribution('data_parallel').scope()" in str(err), err
        print(f"REFUSED world={dist.get_world_size()}", flush=True)
    else:
        raise AssertionError("fit ran inside a 2-process torch group")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    import torch.multiprocessing as mp

    import tests.toy_data  # noqa: F401  (import once, then fork: faster than spawn)
    import keras_semppl.models  # noqa: F401

    mp.start_processes(
        _worker, args=(os.environ["SEMPPL_TMP"],), nprocs=2, join=True, start_method="fork"
    )
