"""SemPPL's total loss for one step, from normalised embeddings.

    loss = c * (L_augm + alpha * L_sempos) + lambda * (I_augm + I_sempos)

* ``L_augm``: InfoNCE of online view i (L large + S small) against target
  large view j; positive = the same example, negatives = N sampled other
  examples of target view j. Averaged over the contrastive pairs (i, j) and
  the examples. By default a large view is not contrasted with its own
  target (our choice: i == j carries no augmentation-invariance signal, and
  with L = 2 it would be half of all pairs). With ``same_view_pairs=True``
  every (i, j) counts, as in ReLICv2's pseudo-code and MAE-CT_SemPPL.
* ``L_sempos``: the same, with the positive replaced by each of P semantic
  positives: queue entries of view j sharing the anchor's (pseudo-)label, and
  the same negatives. Anchors without a semantic positive are masked out.
  With ``positive_trust`` (per anchor, kappa in [0, 1]) each row is the
  trust-corrected InfoNCE ``-log(kappa q_0 + (1 - kappa) / (1 + N))``
  (`keras_semppl.losses.contrastive.trusted_infonce_per_row`); without it,
  the paper's InfoNCE (kappa = 1).
* ``I_augm``, ``I_sempos``: the invariance penalty, chosen by ``invariance``:

  - ``"kl"`` (default): ReLIC's KL (Mitrovic et al., ICLR 2021, eq. 3)
    between the candidate distributions of the ordered large-view pairs
    (i, j) and (j, i), i != j, over the same candidates (the negative draw is
    symmetric in i, j). A KL is 0 at collapse, so its weight must stay small
    enough that collapse is never the cheapest state (see `SemPPL`'s
    ``lambda_invariance``). ``I_sempos`` applies it to the semantic-positive
    logits too only with ``invariance_on_semantic_positives=True``.
  - ``"3p"``: MAE-CT_SemPPL's stand-in, for reproducing that code: per pair,
    ``+CE_ij`` when i >= j (i counted within its group, large or small) and
    ``-stop_gradient(CE_ij)`` otherwise, averaged like the contrastive terms.
    Its gradient is InfoNCE on the pairs i >= j, so lambda there *adds*
    contrastive weight.
  - ``"none"``: both terms 0.

Sources: SemPPL (Bošnjak et al., ICLR 2023) for the terms and the form of the
total; ReLICv2 (Tomasev et al., 2022) for few sampled negatives; the weights
are chosen in `keras_semppl.models.SemPPL` (see its docstring).
"""

from keras import ops

from keras_semppl.losses.contrastive import contrastive_logits
from keras_semppl.losses.contrastive import infonce_per_row
from keras_semppl.losses.contrastive import trusted_infonce_per_row
from keras_semppl.losses.invariance import masked_kl_invariance
from keras_semppl.losses.masked_mean import masked_mean

INVARIANCES = ("kl", "3p", "none")
TERMS = ("loss", "l_augm", "l_sempos", "i_augm", "i_sempos")


def contrastive_pair_mask(num_views, num_large, same_view_pairs=False):
    """(V, L) bool: which (online view i, target view j) pairs are contrasted.

    Without ``same_view_pairs``, the pairs i == j < L are left out, except
    when L == 1 (then the only large pair is kept, or nothing would remain).
    """
    mask = ops.ones((num_views, num_large), "bool")
    if same_view_pairs or num_large == 1:
        return mask
    same = ops.eye(num_views, num_large, dtype="bool")
    return ops.logical_not(same)


def _swap_view_axes(x):
    rank = len(x.shape)
    return ops.transpose(x, (1, 0) + tuple(range(2, rank)))


def _gather_negatives(pool, negative_indices, num_views):
    """Negatives (V or 1, L, B, N, D) from the pool (L, B', D).

    ``negative_indices`` is (B, N) (one draw shared by all pairs) or
    (V, L, B, N) (a draw per pair (i, j), indices into view j's pool).
    """
    if len(negative_indices.shape) == 2:
        return ops.expand_dims(ops.take(pool, negative_indices, axis=1), 0)
    num_large, pool_size = pool.shape[0], pool.shape[1]
    offsets = ops.reshape(ops.arange(num_large, dtype="int32") * pool_size, (1, -1, 1, 1))
    flat = ops.reshape(pool, (num_large * pool_size, pool.shape[-1]))
    return ops.take(flat, negative_indices + offsets, axis=0)


def _three_p_signs(num_views, num_large):
    """(V, L) float: +1 where MAE-CT_SemPPL adds CE_ij (i >= j), else -1."""
    rows = ops.arange(num_views, dtype="int32")
    within_group = ops.where(rows < num_large, rows, rows - num_large)
    cols = ops.arange(num_large, dtype="int32")
    return ops.where(within_group[:, None] >= cols[None, :], 1.0, -1.0)


def _signed_ce(per_row, signs, mask):
    """3P's signed mean: +CE where the sign is +1, -stop_gradient(CE) elsewhere."""
    extra = len(per_row.shape) - 2
    signs = ops.reshape(signs, tuple(signs.shape) + (1,) * extra)
    signed = ops.where(signs > 0, per_row, -ops.stop_gradient(per_row))
    return masked_mean(signed, mask)


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
    same_view_pairs=False,
    invariance="kl",
    invariance_on_semantic_positives=False,
    positive_trust=None,
):
    """All loss terms of one SemPPL step.

    Args:
        online: (V, B, D) normalised online predictions, the L large views
            first, then the S small views (V = L + S).
        target: (L, B, D) normalised target projections of the large views.
        negative_indices: int indices into ``negative_pool`` of N other
            examples per example (never itself): (B, N), one draw for every
            pair, or (V, L, B, N), a draw per pair (i, j); for the "kl"
            invariance the draw must be symmetric in large views i, j.
        positives: (L, B, P, D) normalised semantic positives drawn from the
            queue of each large view j.
        positive_mask: (B, P) bool, where a semantic positive exists.
        temperature, c, alpha, lam: the scalars of the formula above.
        negative_pool: (L, B', D) target projections that ``negative_indices``
            point into; default ``target``. Data-parallel training passes the
            all-gathered global batch here (B' = replicas x B).
        same_view_pairs: also contrast large view i with its own target.
        invariance: "kl", "3p" or "none" (see the module docstring).
        invariance_on_semantic_positives: with "kl", also the KL between the
            semantic-positive distributions of swapped pairs.
        positive_trust: optional (B,) float in [0, 1], the probability that
            each anchor's semantic positives are of its class (e.g.
            `keras_semppl.layers.PseudoLabelTrust`); L_sempos (and 3P's
            signed semantic term) then use the trust-corrected rows. None:
            the paper's InfoNCE.

    Returns:
        dict of scalars: ``loss``, ``l_augm``, ``l_sempos``, ``i_augm``,
        ``i_sempos`` (`TERMS`).
    """
    if invariance not in INVARIANCES:
        raise ValueError(f"invariance must be one of {INVARIANCES}; got {invariance!r}.")
    online, target, positives = (
        ops.convert_to_tensor(x, "float32") for x in (online, target, positives)
    )
    negative_indices = ops.convert_to_tensor(negative_indices, "int32")
    positive_mask = ops.convert_to_tensor(positive_mask, "bool")
    num_views, num_large = online.shape[0], target.shape[0]
    pool = target if negative_pool is None else ops.convert_to_tensor(negative_pool, "float32")
    negatives = _gather_negatives(pool, negative_indices, num_views)
    pairs = contrastive_pair_mask(num_views, num_large, same_view_pairs)  # (V, L)

    augm_logits = contrastive_logits(
        ops.expand_dims(online, 1), ops.expand_dims(target, 0), negatives, temperature
    )  # (V, L, B, 1 + N)
    augm_rows = infonce_per_row(augm_logits)  # (V, L, B)
    augm_mask = pairs[:, :, None]
    l_augm = masked_mean(augm_rows, augm_mask)

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
    if positive_trust is None:
        sem_rows = infonce_per_row(sem_logits)  # (V, L, B, P)
    else:
        trust = ops.convert_to_tensor(positive_trust, "float32")[None, None, :, None]
        sem_rows = trusted_infonce_per_row(sem_logits, trust)
    sem_mask = ops.logical_and(pairs[:, :, None, None], positive_mask[None, None])
    l_sempos = masked_mean(sem_rows, sem_mask)

    zero = ops.zeros((), "float32")
    i_augm = i_sempos = zero
    if invariance == "kl":
        off_diagonal = ops.logical_not(ops.eye(num_large, dtype="bool"))
        large_augm = augm_logits[:num_large]
        i_augm = masked_kl_invariance(
            large_augm, _swap_view_axes(large_augm), off_diagonal[:, :, None]
        )
        if invariance_on_semantic_positives:
            large_sem = sem_logits[:num_large]
            kl_mask = ops.logical_and(off_diagonal[:, :, None, None], positive_mask[None, None])
            i_sempos = masked_kl_invariance(large_sem, _swap_view_axes(large_sem), kl_mask)
    elif invariance == "3p":
        signs = _three_p_signs(num_views, num_large)
        i_augm = _signed_ce(augm_rows, signs, augm_mask)
        i_sempos = _signed_ce(sem_rows, signs, sem_mask)

    loss = c * (l_augm + alpha * l_sempos) + lam * (i_augm + i_sempos)
    return {
        "loss": loss,
        "l_augm": l_augm,
        "l_sempos": l_sempos,
        "i_augm": i_augm,
        "i_sempos": i_sempos,
    }
