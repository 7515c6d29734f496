"""`semppl train`, part two: executes a `TrainPlan` (see `keras_semppl.cli.train_plan`).

data -> views -> distribution -> fit -> plots -> evaluation -> baseline -> save.
"""

import dataclasses
import json
import os
import time

import keras

from keras_semppl.augment.device_views import DeviceViews
from keras_semppl.augment.host_views import make_view_fn
from keras_semppl.callbacks.checkpoint import CheckpointError
from keras_semppl.callbacks.checkpoint import fit_resumable
from keras_semppl.callbacks.checkpoint import latest_checkpoint
from keras_semppl.callbacks.guards import DivergenceError
from keras_semppl.callbacks.history_io import history_path_for_model
from keras_semppl.callbacks.history_io import save_history_json
from keras_semppl.callbacks.knn_monitor import KNNMonitor
from keras_semppl.callbacks.run_record import check_run_record
from keras_semppl.callbacks.step_projection import StepTimeProjection
from keras_semppl.callbacks.sync_batch_norm import SynchronizedBatchNorm
from keras_semppl.cli.train_processes import join_job
from keras_semppl.data.pipeline import make_training_dataset
from keras_semppl.data.sources import resolve_dataset
from keras_semppl.distribute import resolve_distribution
from keras_semppl.distribute.tf_multi_worker import lost_worker_message
from keras_semppl.distribute.tf_multi_worker import shard_global_batches
from keras_semppl.encoders.resnet import resnet18
from keras_semppl.encoders.resnet import resnet50
from keras_semppl.encoders.small_convnet import small_convnet
from keras_semppl.evaluation.knn_rule import describe_knn_k
from keras_semppl.evaluation.knn_rule import held_out_knn_k
from keras_semppl.evaluation.method_comparison import comparison_table
from keras_semppl.evaluation.post_training import held_out_comparison
from keras_semppl.evaluation.supervised_baseline import SupervisedRecipe
from keras_semppl.evaluation.supervised_baseline import train_supervised_baseline
from keras_semppl.io.atomic import save_model
from keras_semppl.io.atomic import write_text
from keras_semppl.models import SemPPL
from keras_semppl.plots.training_curves import plot_training_curves
from keras_semppl.precision import policy_name
from keras_semppl.precision import resolve_precision
from keras_semppl.schedules.warmup_cosine import warmup_cosine_decay


def load_data(plan):
    """The plan's `SemiSupervisedArrays` (SystemExit naming --dataset on errors)."""
    try:
        data = resolve_dataset(plan.dataset, data_dir=plan.data_dir,
                               image_size=plan.image_size,
                               label_fraction=plan.label_fraction,
                               labels_per_class=plan.labels_per_class, seed=plan.seed,
                               val_fraction=plan.val_fraction, holdout=plan.holdout,
                               unlabelled_dir=plan.unlabelled_dir,
                               skip_corrupt=plan.skip_corrupt)
    except ValueError as error:
        hint = " Pass --image-size." if "image_size" in str(error) else ""
        hint += " Pass --skip-corrupt to skip such files." if "skip_corrupt" in str(error) else ""
        raise SystemExit(f"--dataset {plan.dataset!r}: {error}{hint}") from None
    if data.num_classes < 2:
        raise SystemExit(f"--dataset {plan.dataset!r}: found {data.num_classes} class; SemPPL "
                         "needs at least 2 (one sub-folder per class).")
    if len(data.val_labels) == 0:
        raise SystemExit("--val-fraction: the held-out set is empty; raise it.")
    return data


def build_encoder(plan, size, channels, name=None):
    """The plan's encoder for large views of side ``size``; any input size with small views."""
    side = None if plan.num_small_views else size
    shape = (side, side, channels)
    kwargs = {} if name is None else {"name": name}
    if plan.encoder == "small_convnet":
        return small_convnet(shape, widths=(32, 64, 128), **kwargs)
    stem = "cifar" if size <= 64 else "imagenet"
    build = resnet18 if plan.encoder == "resnet18" else resnet50
    return build(input_shape=shape, stem=stem, **kwargs)


def epoch_seed(seed, epoch):
    """The data seed of one epoch under --checkpoint-dir: a function of (seed, epoch)."""
    return int(seed) * 100003 + int(epoch) + 1


def training_dataset(plan, data, view_fn, seed=None, repeat=False):
    """(tf.data batches of views, steps per epoch); ``seed`` overrides the plan's.

    The batches repeat with --steps-per-epoch or ``repeat``; an epoch is
    one pass over the unlabelled examples unless --steps-per-epoch says.
    """
    def make(repeat):
        try:
            return make_training_dataset(
                data.images, data.labels, plan.batch_size, view_fn,
                true_labels=data.true_labels, seed=plan.seed if seed is None else seed,
                labelled_per_batch=plan.labelled_per_batch,
                num_classes=data.num_classes, repeat=repeat)
        except ValueError as error:
            raise SystemExit(f"--batch-size/--labelled-per-batch: {error}") from None

    if plan.steps_per_epoch is not None:
        return make(True), plan.steps_per_epoch
    one_pass = make(False)
    steps = int(one_pass.cardinality())
    return (make(True) if repeat else one_pass), steps


def distribution(plan):
    """The `DistributionPlan` of --distribute (SystemExit naming it on errors)."""
    try:
        engine = resolve_distribution(plan.distribute, tpu=plan.tpu)
        engine.check_batch_size(plan.batch_size)
    except (ValueError, NotImplementedError) as error:
        raise SystemExit(f"--distribute: {error}") from None
    return engine


def fit_semppl(plan, data, dataset, views, steps_per_epoch, epoch_dataset=None, feed=None,
               sync_batch_norm=False):
    """Builds, compiles and fits SemPPL; call inside the distribution scope.

    With ``--augment-on device`` the model augments the views itself
    (`DeviceViews` of the plan's ``views``). With ``--checkpoint-dir``,
    ``epoch_dataset(epoch)`` gives each epoch's batches and training resumes
    from the latest checkpoint (`keras_semppl.callbacks.fit_resumable`).
    ``feed``: None, or ``(repeated batches) -> fit input`` (TensorFlow
    workers: each replica's rows of every global batch). ``sync_batch_norm``:
    the encoders' BatchNorm uses the global batch (`SynchronizedBatchNorm`).

    Returns:
        (model, history dict, seconds).
    """
    channels = data.images.shape[-1]
    device_views = None
    if plan.augment_on == "device":
        device_views = DeviceViews(views.large, views.small, channels=channels, seed=plan.seed)
    total_steps = steps_per_epoch * plan.epochs

    def build():
        model = SemPPL(build_encoder(plan, views.large[0].size, channels),
                       num_classes=data.num_classes, view_augmentation=device_views,
                       **plan.model_kwargs())
        model.set_run_length(total_steps)
        schedule = warmup_cosine_decay(plan.learning_rate, total_steps,
                                       warmup_steps=min(2 * steps_per_epoch, total_steps))
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4))
        return model

    callbacks = tensorboard_callbacks(plan, data) + projection_callbacks(
        plan, total_steps, steps_per_epoch)
    if sync_batch_norm:
        callbacks.insert(0, SynchronizedBatchNorm())
    start = time.time()
    if plan.checkpoint_dir is not None:
        _check_same_run(plan)
        latest = latest_checkpoint(plan.checkpoint_dir)
        if latest is not None:
            print(f"resuming from {latest}")
        model, history = fit_resumable(
            build, epoch_dataset, plan.epochs, steps_per_epoch, plan.checkpoint_dir,
            every_steps=plan.checkpoint_every_steps, keep=plan.keep, verbose=plan.verbose,
            callbacks=callbacks, feed=feed)
        return model, history, time.time() - start
    model = build()
    repeated = plan.steps_per_epoch is not None or feed is not None
    history = model.fit(dataset if feed is None else feed(dataset), epochs=plan.epochs,
                        verbose=plan.verbose,
                        steps_per_epoch=steps_per_epoch if repeated else None,
                        callbacks=callbacks)
    return model, history.history, time.time() - start


# Plan fields that may change between a run and its resumption.
# The engine only splits the global batch, so a run may resume under another
# distribution or process count.
_FREE_ON_RESUME = ("verbose", "output", "plots", "report_json", "baseline", "classical",
                   "logdir", "checkpoint_dir", "checkpoint_every_steps", "keep",
                   "coordinator_address", "num_processes", "process_id", "preset",
                   "training_budget_minutes", "distribute", "tpu")


def _check_same_run(plan):
    """Records the plan in --checkpoint-dir; SystemExit if it holds another run's.

    A checkpoint carries its own model and optimizer (schedule included), so
    resuming it under other training flags would silently mix two runs.
    """
    settings = {k: v for k, v in dataclasses.asdict(plan).items() if k not in _FREE_ON_RESUME}
    try:
        check_run_record(plan.checkpoint_dir, settings)  # (process 0 writes it)
    except ValueError as error:
        raise SystemExit(f"--checkpoint-dir: {error}") from None


def tensorboard_callbacks(plan, data):
    """With --logdir: the held-out k-NN monitor, then Keras' TensorBoard writer
    (in that order, so that the writer sees ``val_knn_accuracy``)."""
    if not plan.logdir:
        return []
    monitor = KNNMonitor(data.images, data.labels, data.val_images, data.val_labels,
                         data.num_classes)
    return [monitor, keras.callbacks.TensorBoard(plan.logdir, write_graph=False)]


def projection_callbacks(plan, total_steps, steps_per_epoch):
    """With a --preset: the projected training time after the warm-up steps,
    checked against the preset's training budget (`StepTimeProjection`)."""
    if plan.training_budget_minutes is None:
        return []
    return [StepTimeProjection(
        total_steps, budget_minutes=plan.training_budget_minutes,
        steps_per_epoch=steps_per_epoch,
        budget_name=f"training that the {plan.preset} preset was sized for")]


def write_plots(plan, history):
    os.makedirs(plan.plots, exist_ok=True)
    save_history_json(history, os.path.join(plan.plots, "history.json"))
    plot_training_curves(history, os.path.join(plan.plots, "training_curves.png"))
    print(f"wrote {plan.plots}/history.json and training_curves.png")


def train_baseline(plan, data, view_fn, size, max_steps, recipe=None):
    """The same encoder, supervised on the labelled images with its own recipe.

    Args:
        max_steps: a cap, so that the baseline never sees more images than
            SemPPL's batches held (SemPPL's steps x its batch / 32); with the
            defaults on digits 2,080 steps, above the recipe's 875 (200
            passes over 140 labels), so it only binds for short runs.
        recipe: a `SupervisedRecipe` (default: the cross-validated one).

    Returns:
        ((classifier, encoder), seconds).
    """
    recipe = recipe or SupervisedRecipe()
    start = time.time()
    encoder = build_encoder(plan, size, data.images.shape[-1],
                            name=f"baseline_{plan.encoder.split('_')[-1]}")
    # Trained in place, as the trunk of the returned classifier.
    classifier = train_supervised_baseline(
        encoder, data.images, data.labels, data.num_classes, view_fn,
        steps=min(recipe.steps(data.num_labelled), max_steps), learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay, augment=recipe.augment, seed=plan.seed)
    return (classifier, encoder), time.time() - start


def print_report(plan, results, labels):
    """Prints the held-out table, the k-NN rule used on ``labels`` (N,) and the JSON line."""
    what = "digits" if plan.is_digits else "images"
    print()
    where = "test" if plan.holdout == "test" else "validation"
    print(f"held-out accuracy on {results['validation']} {where} {what} "
          f"({results['labelled']} labels used, {results['knn_k']} per k-NN vote):")
    print(comparison_table(results["accuracy"], knn_k=results["knn_k"]))
    print(describe_knn_k(labels))
    if plan.baseline:
        print("own classifier: SemPPL's k-NN pseudo-labeller over the labelled images, the "
              "baseline's softmax head.")
    else:
        print("own classifier: SemPPL's k-NN pseudo-labeller over the labelled images.")
    if "final_pseudo_label_accuracy" in results:
        print(f"final pseudo-label accuracy (unlabelled, training): "
              f"{results['final_pseudo_label_accuracy']:.3f}")
    print(f"saved {plan.output}")
    line = json.dumps(results)
    if plan.report_json:
        write_text(plan.report_json, line + "\n")
    print(line)


def execute(plan):
    """Runs a resolved `TrainPlan`; returns the results printed as JSON.

    The run's precision is Keras' global dtype policy while it runs; the
    caller's policy is restored afterwards (`main` may be called in-process).
    """
    before = keras.mixed_precision.global_policy()
    try:
        return _run(plan)
    finally:
        keras.mixed_precision.set_global_policy(before)


def _run(plan):
    start = time.time()
    plan = join_job(plan)  # several processes: join first; outputs of process 0 only
    precision, why = resolve_precision(plan.precision, tpu=plan.distribute == "tpu",
                                       encoder=plan.encoder)
    keras.mixed_precision.set_global_policy(policy_name(precision))
    keras.utils.set_random_seed(plan.seed)
    data = load_data(plan)
    print(f"backend: {keras.backend.backend()}")
    print(f"precision: {precision} ({why})")
    print(data.summary())
    views = plan.views(data.images.shape[1])
    size = views.large[0].size
    if plan.augment_on == "device" and data.images.shape[1] != size:
        raise SystemExit(f"--augment-on device: the images ({data.images.shape[1]} px) must "
                         f"have the large view side ({size} px); pass --image-size {size}.")
    view_fn = make_view_fn(views, seed=plan.seed, placement=plan.augment_on)
    engine = distribution(plan)
    print(f"distribution: {engine.description}")
    workers = engine.name == "multi_worker"
    feed = None
    if workers:  # each replica's rows of every (repeated) global batch
        def feed(batches):
            return shard_global_batches(engine.engine, batches, plan.batch_size)
    dataset, steps_per_epoch = training_dataset(plan, data, view_fn, repeat=workers)

    def epoch_dataset(epoch):
        return training_dataset(plan, data, view_fn, seed=epoch_seed(plan.seed, epoch),
                                repeat=workers)[0]

    try:
        with engine.scope():
            # Several replicas (TensorFlow strategies, torch processes): BatchNorm
            # over the global batch, as on one device and as JAX's step sees it.
            model, history, seconds = fit_semppl(
                plan, data, dataset, views, steps_per_epoch, epoch_dataset=epoch_dataset,
                feed=feed, sync_batch_norm=engine.backend in ("tensorflow", "torch")
                and engine.num_replicas > 1)
    except DivergenceError as error:
        kept = f" {plan.output} was left as it was." if os.path.exists(plan.output) else ""
        raise SystemExit(f"semppl train: {error} Nothing was saved.{kept}") from None
    except CheckpointError as error:
        raise SystemExit(f"semppl train: --checkpoint-dir: {error}") from None
    except Exception as error:
        lost = workers and lost_worker_message(error)
        if not lost:
            raise
        raise SystemExit(f"semppl train: {lost}") from None
    if history:
        # Beside the model, so that `semppl plot --model OUTPUT` finds it.
        save_history_json(history, history_path_for_model(plan.output))
        print(f"wrote {history_path_for_model(plan.output)}")
    if plan.plots and history:
        write_plots(plan, history)

    results = {
        "backend": keras.backend.backend(),
        "seed": plan.seed,
        "precision": precision,
        "labelled": int(data.labelled_mask.sum()),
        "validation": int(len(data.val_labels)),
        "knn_k": held_out_knn_k(data.labels),
        "semppl_seconds": round(seconds, 1),
    }
    if plan.semantic_positives and history.get("pseudo_label_accuracy"):
        results["final_pseudo_label_accuracy"] = float(
            history["pseudo_label_accuracy"][-1])
    if not plan.is_digits:
        results = {"dataset": plan.dataset, **results}
    supervised = None
    if plan.baseline:
        # When its recipe augments, on the host, with the same views.
        supervised, seconds = train_baseline(
            plan, data, make_view_fn(views, seed=plan.seed), size,
            max(1, steps_per_epoch * plan.epochs * plan.batch_size // 32))
        results["baseline_seconds"] = round(seconds, 1)
    results["accuracy"] = held_out_comparison(
        data, size, semppl=model, supervised=supervised, classical=plan.classical,
        seed=plan.seed)

    save_model(model, plan.output)
    results["saved"] = plan.output
    results["total_seconds"] = round(time.time() - start, 1)
    print_report(plan, results, data.labels)
    return results
