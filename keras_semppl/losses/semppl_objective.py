"""SemPPL's total loss for one step, from normalised embeddings.

    loss = c * (L_augm + alpha * L_sempos) + lambda * (I_augm + I_sempos)

* ``L_augm``: InfoNCE of every online view i (L large + S small) against every
  target large view j (i == j included, as in the PyTorch reimplementation
  MAE-CT_SemPPL), positive = the same example, negatives = N sampled other
  examples of target view j. Averaged over all (i, j, example).
* ``L_sempos``: the same, with the positive replaced by each of P semantic
  positives: queue entries of view j sharing the anchor's (pseudo-)label.
  The negatives are the same sampled target projections. Anchors without a
  semantic positive are masked out.
* ``I_augm``, ``I_sempos``: ReLIC's KL invariance between the distributions of
  the ordered large-view pairs (i, j) and (j, i), i != j, over the same
  candidate examples (hence one set of negative indices per step).

Sources: SemPPL (Bošnjak et al., ICLR 2023) for the terms and their weights
(c=0.3, alpha=0.2, lambda=5 as in MAE-CT_SemPPL); ReLIC (Mitrovic et al.,
2021) for the KL form.
"""

from keras import ops

from keras_semppl.losses.contrastive import contrastive_logits
from keras_semppl.losses.contrastive import masked_infonce
from keras_semppl.losses.invariance import masked_kl_invariance


def _swap_view_axes(x):
    rank = len(x.shape)
    return ops.transpose(x, (1, 0) + tuple(range(2, rank)))


def semppl_objective(
    online,
    target,
    negative_indices,
    positives,
    positive_mask,
    temperature,
    c,
    alpha,
    lam,
    negative_pool=None,
):
    """All loss terms of one SemPPL step.

    Args:
        online: (V, B, D) normalised online predictions, the L large views
            first, then the S small views (V = L + S).
        target: (L, B, D) normalised target projections of the large views.
        negative_indices: (B, N) int, for each example N other examples of the
            batch whose target projections serve as negatives (never itself).
        positives: (L, B, P, D) normalised semantic positives drawn from the
            queue of each large view j.
        positive_mask: (B, P) bool, where a semantic positive exists.
        temperature, c, alpha, lam: the scalars of the formula above.
        negative_pool: (L, B', D) target projections that ``negative_indices``
            point into; default ``target``. Data-parallel training passes the
            all-gathered global batch here (B' = replicas x B).

    Returns:
        dict of scalars: ``loss``, ``l_augm``, ``l_sempos``, ``i_augm``,
        ``i_sempos``.
    """
    online, target, positives = (
        ops.convert_to_tensor(x, "float32") for x in (online, target, positives)
    )
    negative_indices = ops.convert_to_tensor(negative_indices, "int32")
    positive_mask = ops.convert_to_tensor(positive_mask, "bool")
    num_large = target.shape[0]
    # Candidates per target view j: (1, L, B, D) positives, (1, L, B, N, D) negatives.
    pool = target if negative_pool is None else ops.convert_to_tensor(negative_pool, "float32")
    negatives = ops.take(pool, negative_indices, axis=1)
    augm_logits = contrastive_logits(
        ops.expand_dims(online, 1),
        ops.expand_dims(target, 0),
        ops.expand_dims(negatives, 0),
        temperature,
    )  # (V, L, B, 1 + N)
    l_augm = masked_infonce(augm_logits)

    # Semantic positives share the augmentation term's negatives.
    sem_pos = ops.sum(
        online[:, None, :, None, :] * ops.expand_dims(positives, 0), axis=-1
    ) / temperature  # (V, L, B, P)
    neg_logits = augm_logits[..., 1:]  # (V, L, B, N)
    sem_shape = tuple(sem_pos.shape) + (neg_logits.shape[-1],)
    sem_logits = ops.concatenate(
        [
            ops.expand_dims(sem_pos, -1),
            ops.broadcast_to(ops.expand_dims(neg_logits, 3), sem_shape),
        ],
        axis=-1,
    )  # (V, L, B, P, 1 + N)
    l_sempos = masked_infonce(sem_logits, positive_mask[None, None])

    # Invariance over ordered large-view pairs i != j.
    off_diagonal = ops.logical_not(ops.eye(num_large, dtype="bool"))
    large_augm = augm_logits[:num_large]
    i_augm = masked_kl_invariance(
        large_augm, _swap_view_axes(large_augm), off_diagonal[:, :, None]
    )
    large_sem = sem_logits[:num_large]
    sem_mask = ops.logical_and(
        off_diagonal[:, :, None, None], positive_mask[None, None]
    )
    i_sempos = masked_kl_invariance(large_sem, _swap_view_axes(large_sem), sem_mask)

    loss = c * (l_augm + alpha * l_sempos) + lam * (i_augm + i_sempos)
    return {
        "loss": loss,
        "l_augm": l_augm,
        "l_sempos": l_sempos,
        "i_augm": i_augm,
        "i_sempos": i_sempos,
    }
