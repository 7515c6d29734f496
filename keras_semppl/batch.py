"""The batch contract of the SemPPL model, and its validation.

A training batch is either a dict::

    {"large_views": (v_1, ..., v_L),   # each (B, H, W, C) float, in [0, 1]
     "small_views": (s_1, ..., s_S),   # each (B, h, w, C); optional
     "labels": (B,) int,               # -1 marks an unlabelled example
     "ids": (B,) int,                  # optional: example index, enables self-exclusion
     "true_labels": (B,) int}          # optional: hidden truth, for monitoring only

or a tuple ``(v_1, ..., v_L, s_1, ..., s_S, labels)`` (large views first), or
``((v_1, ..., s_S), labels)`` as Keras' ``(x, y)``. Without ids a queue entry
can never be recognised as the anchor itself, so self-exclusion is off.
"""

import collections

from keras import ops

SemPPLBatch = collections.namedtuple(
    "SemPPLBatch", ["large_views", "small_views", "labels", "ids", "true_labels"]
)

_DICT_KEYS = {"large_views", "small_views", "labels", "ids", "true_labels"}


def _as_tuple(views):
    if views is None:
        return ()
    if isinstance(views, (list, tuple)):
        return tuple(views)
    return (views,)


def parse_batch(data, num_large_views, num_small_views):
    """Turns what `fit` yields into a validated `SemPPLBatch`.

    Args:
        data: a dict or tuple as described in the module docstring.
        num_large_views: L, the number of large views the model expects.
        num_small_views: S, the number of small views the model expects.

    Returns:
        `SemPPLBatch` whose ``ids`` and ``true_labels`` are int32 (B,) tensors
        (filled with -1 when not given).
    """
    # Keras' adapters may wrap x as (x,) or (x, None, None).
    while isinstance(data, (tuple, list)) and len(data) >= 1 and data[-1] is None:
        data = tuple(data[:-1])
    if isinstance(data, (tuple, list)) and len(data) == 1:
        data = data[0]
    if isinstance(data, dict):
        unknown = set(data) - _DICT_KEYS
        if unknown:
            raise ValueError(
                f"Unknown batch keys {sorted(unknown)}; expected a subset of "
                f"{sorted(_DICT_KEYS)} with 'large_views' and 'labels' required."
            )
        for key in ("large_views", "labels"):
            if key not in data:
                raise ValueError(f"The batch dict has no '{key}' entry.")
        large = _as_tuple(data["large_views"])
        small = _as_tuple(data.get("small_views"))
        labels = data["labels"]
        ids = data.get("ids")
        true_labels = data.get("true_labels")
    else:
        if isinstance(data, list):
            data = tuple(data)
        if not isinstance(data, tuple) or len(data) < 2:
            raise ValueError(
                "A batch must be a dict with 'large_views' and 'labels', or a "
                "tuple (views..., labels); got "
                f"{type(data).__name__}."
            )
        if len(data) == 2 and isinstance(data[0], (list, tuple)):
            views = tuple(data[0])
        else:
            views = tuple(data[:-1])
        labels = data[-1]
        if len(views) != num_large_views + num_small_views:
            raise ValueError(
                f"The batch holds {len(views)} views but the model expects "
                f"num_large_views + num_small_views = {num_large_views} + "
                f"{num_small_views}."
            )
        large = views[:num_large_views]
        small = views[num_large_views:]
        ids = None
        true_labels = None

    if len(large) != num_large_views:
        raise ValueError(
            f"The batch holds {len(large)} large views but the model expects "
            f"num_large_views={num_large_views}."
        )
    if len(small) != num_small_views:
        raise ValueError(
            f"The batch holds {len(small)} small views but the model expects "
            f"num_small_views={num_small_views}."
        )
    for name, group in (("large", large), ("small", small)):
        for i, view in enumerate(group):
            shape = tuple(view.shape)
            if len(shape) != 4:
                raise ValueError(
                    f"{name} view {i} has shape {shape}; expected a batch of "
                    "images of rank 4 (batch, height, width, channels)."
                )
        if group:
            first = tuple(group[0].shape)
            for i, view in enumerate(group[1:], start=1):
                if tuple(view.shape)[1:] != first[1:]:
                    raise ValueError(
                        f"All {name} views must share one image shape; view 0 "
                        f"is {first[1:]} but view {i} is {tuple(view.shape)[1:]}."
                    )
    if len(tuple(labels.shape)) != 1:
        raise ValueError(
            f"labels must have shape (batch,); got {tuple(labels.shape)}."
        )
    labels = ops.cast(labels, "int32")
    ids = ops.full_like(labels, -1) if ids is None else ops.cast(ids, "int32")
    if true_labels is None:
        true_labels = ops.full_like(labels, -1)
    else:
        true_labels = ops.cast(true_labels, "int32")
    large = tuple(ops.convert_to_tensor(v) for v in large)
    small = tuple(ops.convert_to_tensor(v) for v in small)
    return SemPPLBatch(large, small, labels, ids, true_labels)
