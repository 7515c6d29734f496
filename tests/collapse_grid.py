"""A synthetic grid of collapse paths with noisy semantic positives, in NumPy.

Each cell (a correct-positive rate, a view noise, a seed) builds what one
SemPPL step sees, then walks the straight path from a collapsed embedding
(t = 0: every view of every example the same vector) to a class-separated
one (t = 1: class centre + per-example offset + per-view noise), and
evaluates the total loss at every point of the path.

What the cell holds (C = 10 classes, chance = 10 %):

* a batch of B unlabelled anchors (online predictions of L = 2 views, target
  projections of the same views) and a queue of labelled target projections
  (20 per class, its true labels), all on the path;
* pseudo-labels computed as the model computes them: the k-NN vote
  (k = ``knn_k``) of the anchors' online predictions against the labelled
  queue, over (view, queue) pairs, but in a *young* representation, the
  one the model has when it votes: class centre times a separability ``s``
  plus per-example and per-view Gaussian noise. ``s`` is what fixes the
  correct-positive rate (``SEPARABILITY``; 0 gives chance, 10 %);
* the vote's confidence (share of votes for the winner) and the model's own
  precision estimate, the leave-one-out vote of the labelled queue entries
  (each queried with its own young online views, its own entry excluded);
* semantic positives drawn from the queue entries sharing the pseudo-label,
  so a positive is correct exactly when the pseudo-label is.

Pseudo-labels, confidence and precision estimate are fixed along the path:
in a step they are stop-gradient constants, so the path shows the landscape
the step's gradient descends. The objective is a vectorised NumPy copy of
`keras_semppl.losses.semppl_objective` (checked against the loop reference
of `tests/numpy_reference.py` and the `keras.ops` objective in the tests).
"""

import dataclasses

import numpy as np

RATES = (0.10, 0.22, 0.50, 1.00)
NOISES = (0.1, 0.2, 0.3)
SEEDS = tuple(range(10))
NUM_CLASSES = 10
PER_CLASS_BATCH = 4
PER_CLASS_QUEUE = 20
DIM = 32
VIEWS = 2
STEPS = 21
#: Young-representation separability giving each correct-positive rate with a
#: 1-NN vote over 2 x 2 (view, queue) pairs (found by bisection over 200 seeds).
SEPARABILITY = {0.10: 0.0, 0.22: 0.35, 0.50: 0.575, 1.00: 4.0}


@dataclasses.dataclass
class Cell:
    """Everything one grid cell needs; arrays carry no cell axis."""

    rate: float
    noise: float
    seed: int
    online: np.ndarray      # (T, V, B, D) online predictions along the path
    target: np.ndarray      # (T, L, B, D) target projections along the path
    queue: np.ndarray       # (T, L, Q, D) labelled queue entries along the path
    classes: np.ndarray     # (B,) true classes of the anchors
    queue_labels: np.ndarray  # (Q,)
    pseudo: np.ndarray      # (B,) pseudo-labels (the vote)
    confidence: np.ndarray  # (B,) share of the votes for the winner
    labelled_correct: np.ndarray     # (Q,) leave-one-out vote == label
    labelled_confidence: np.ndarray  # (Q,)
    anchor_query: np.ndarray  # (V, B, D) young online views of the anchors
    queue_query: np.ndarray   # (V, Q, D) young online views of the labelled examples
    queue_key: np.ndarray     # (L, Q, D) young queue entries
    slots: np.ndarray       # (B, P) queue slots of the semantic positives
    positive_mask: np.ndarray  # (B, P)
    negatives: np.ndarray   # (V, L, B, N) negative indices per pair
    ts: np.ndarray          # (T,)

    @property
    def positives(self):
        """(T, L, B, P, D) semantic positives along the path."""
        return self.queue[:, :, self.slots]

    @property
    def anchor_ids(self):
        return np.arange(len(self.classes)) + len(self.queue_labels)

    @property
    def kappa(self):
        """The model's trust: chance-corrected precision of the labelled votes
        (`PseudoLabelTrust` after one update with all of them)."""
        chance = 1.0 / NUM_CLASSES
        precision = (self.labelled_correct.sum() + chance) / (len(self.labelled_correct) + 1)
        return float(np.clip((precision - chance) / (1 - chance), 0.0, 1.0))

    @property
    def positive_correct(self):
        """(B, P) bool: the positive's class is the anchor's."""
        return self.queue_labels[self.slots] == self.classes[:, None]


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def knn_vote(queries, keys, key_labels, key_ids, query_ids, k, num_classes):
    """Vectorised `KNNPseudoLabeler`: (labels (B,), confidence (B,)).

    queries (Vq, B, D), keys (Vk, Q, D); an entry with the query's id is
    excluded; ties between classes go to the larger similarity sum.
    """
    sims = np.einsum("vbd,wqd->vwbq", queries, keys)
    own = key_ids[None, :] == query_ids[:, None]
    sims = np.where(own[None, None], -3.0, sims)
    order = np.argsort(-sims, axis=-1, kind="stable")[..., :k]  # (Vq, Vk, B, k)
    values = np.take_along_axis(sims, order, axis=-1)
    labels = key_labels[order]
    onehot = np.eye(num_classes)[labels]  # (Vq, Vk, B, k, C)
    counts = onehot.sum(axis=(0, 1, 3))
    simsum = (onehot * ((values + 1) / 2)[..., None]).sum(axis=(0, 1, 3))
    votes = queries.shape[0] * keys.shape[0] * k
    winner = np.argmax(counts + simsum / (votes + 1.0), axis=-1)
    return winner, counts.max(axis=-1) / counts.sum(axis=-1)


def sample_pair_negatives(rng, views, large, batch, num_negatives):
    """Like `sample_pair_negative_indices`: N distinct offsets per pair, symmetric in i, j."""
    offsets = np.stack([rng.permutation(batch - 1)[:num_negatives] for _ in range(views * large)])
    offsets = offsets.reshape(views, large, num_negatives)
    for i in range(large):
        for j in range(i):
            offsets[i, j] = offsets[j, i]
    rows = np.arange(batch)[None, None, :, None]
    return (rows + offsets[:, :, None, :] + 1) % batch


def make_cell(rate, noise, seed, num_negatives=10, num_positives=3, knn_k=1, steps=STEPS):
    rng = np.random.default_rng([seed, int(round(rate * 100)), int(round(noise * 10))])
    C, D, V = NUM_CLASSES, DIM, VIEWS
    classes = np.repeat(np.arange(C), PER_CLASS_BATCH)
    queue_labels = np.repeat(np.arange(C), PER_CLASS_QUEUE)
    B, Q = len(classes), len(queue_labels)
    centres = _unit(rng.normal(size=(C, D)))
    collapsed = _unit(rng.normal(size=D))

    # Young representation: the vote and the precision estimate.
    s = SEPARABILITY[rate]

    def young(labels, views):
        example = rng.normal(size=(len(labels), D)) / np.sqrt(D)
        view = rng.normal(size=(views, len(labels), D)) / np.sqrt(D)
        return _unit(s * centres[labels] + example + view)

    anchor_query = young(classes, V)
    queue_query = young(queue_labels, V)  # the labelled examples' online views...
    queue_key = young(queue_labels, V)    # ...and their queue entries
    anchor_ids = np.arange(B) + Q  # Cell.anchor_ids
    queue_ids = np.arange(Q)
    pseudo, confidence = knn_vote(anchor_query, queue_key, queue_labels, queue_ids,
                                  anchor_ids, knn_k, C)
    loo, loo_conf = knn_vote(queue_query, queue_key, queue_labels, queue_ids, queue_ids,
                             knn_k, C)

    # Semantic positives: P queue entries with the pseudo-label.
    slots = np.stack([rng.choice(np.flatnonzero(queue_labels == pseudo[b]), num_positives,
                                 replace=False) for b in range(B)])

    # The path.
    ts = np.linspace(0.0, 1.0, steps)

    def path(labels, views):
        example = noise * rng.normal(size=(len(labels), D))
        view = noise * rng.normal(size=(views, len(labels), D))
        end = centres[labels] + example + view  # (V, n, D)
        return _unit((1 - ts)[:, None, None, None] * collapsed + ts[:, None, None, None] * end)

    anchor_example = noise * rng.normal(size=(B, D))
    views_noise = noise * rng.normal(size=(2, V, B, D))
    end_online = centres[classes] + anchor_example + views_noise[0]
    end_target = centres[classes] + anchor_example + views_noise[1]
    along = lambda end: _unit((1 - ts)[:, None, None, None] * collapsed
                              + ts[:, None, None, None] * end)
    return Cell(
        rate=rate, noise=noise, seed=seed, online=along(end_online), target=along(end_target),
        queue=path(queue_labels, V), classes=classes, queue_labels=queue_labels,
        pseudo=pseudo, confidence=confidence, labelled_correct=loo == queue_labels,
        labelled_confidence=loo_conf, anchor_query=anchor_query, queue_query=queue_query,
        queue_key=queue_key, slots=slots,
        positive_mask=np.ones((B, num_positives), bool),
        negatives=sample_pair_negatives(rng, V, V, B, num_negatives), ts=ts)


def make_grid(**kwargs):
    return [make_cell(r, n, s, **kwargs) for r in RATES for n in NOISES for s in SEEDS]


def _log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def objective_along_path(cell, temperature, c, alpha, lam, trust=None, same_view_pairs=False,
                         weights=None):
    """Total loss (T,) along the path: vectorised `semppl_objective`.

    KL invariance on the augmentation logits only (the defaults). ``trust``:
    None for the paper's L_sempos, else (B,) per-anchor trust kappa for the
    trust-corrected form -log(kappa q_0 + (1 - kappa) / (1 + N)).
    ``weights``: optional (B,) per-anchor factors on the rows (variants only).
    """
    online, target, positives = cell.online, cell.target, cell.positives
    V, L = online.shape[1], target.shape[1]
    negs = target[:, np.arange(L)[None, :, None, None], cell.negatives]  # (T, V, L, B, N, D)
    pos = np.einsum("tvbd,tlbd->tvlb", online, target)[..., None]
    neg = np.einsum("tvbd,tvlbnd->tvlbn", online, negs)
    augm_logits = np.concatenate([pos, neg], axis=-1) / temperature  # (T, V, L, B, 1+N)
    pairs = np.ones((V, L), bool) if same_view_pairs or L == 1 else ~np.eye(V, L, dtype=bool)
    augm_rows = -_log_softmax(augm_logits)[..., 0]
    l_augm = augm_rows[:, pairs].mean(axis=(1, 2))
    sem_pos = np.einsum("tvbd,tlbpd->tvlbp", online, positives) / temperature
    neg_b = np.broadcast_to(augm_logits[..., None, 1:], sem_pos.shape + (neg.shape[-1],))
    sem_logits = np.concatenate([sem_pos[..., None], neg_b], axis=-1)
    log_q0 = _log_softmax(sem_logits)[..., 0]  # (T, V, L, B, P)
    if trust is None:
        sem_rows = -log_q0
    else:
        kappa = np.asarray(trust, float)[:, None]
        n1 = sem_logits.shape[-1]
        sem_rows = -np.log(kappa * np.exp(log_q0) + (1 - kappa) / n1)
    if weights is not None:
        sem_rows = sem_rows * np.asarray(weights, float)[:, None]
    mask = cell.positive_mask
    l_sempos = (sem_rows[:, pairs] * mask).sum(axis=(1, 2, 3)) / max(pairs.sum() * mask.sum(), 1)
    # KL between (i, j) and (j, i) on the large views, i != j.
    off = ~np.eye(L, dtype=bool)
    lp = _log_softmax(augm_logits[:, :L])
    lq = np.swapaxes(lp, 1, 2)
    kl = (np.exp(lq) * (lq - lp)).sum(axis=-1)
    i_augm = kl[:, off].mean(axis=(1, 2)) if off.any() else 0.0
    return c * (l_augm + alpha * l_sempos) + lam * i_augm


def path_verdicts(losses, reference, tolerance):
    """Per cell: (separated cheaper than collapse, excess, passes).

    losses, reference: (cells, T) losses along the path, the second of the
    augmentation-only objective (alpha = 0). The excess is how much the loss
    at the reference's minimum exceeds the loss's own minimum: 0 when the
    minimum lies no closer to collapse than the reference's (or on a flat
    stretch of it); large when noisy positives pull the minimum towards
    collapse.
    """
    rows = np.arange(len(losses))
    excess = losses[rows, np.argmin(reference, axis=1)] - losses.min(axis=1)
    cheaper = losses[:, -1] < losses[:, 0]
    return cheaper, excess, cheaper & (excess <= tolerance)


def _kappa_of(precision):
    return np.clip((precision - 1 / NUM_CLASSES) / (1 - 1 / NUM_CLASSES), 0.0, 1.0)


def _binned_trust(cell):
    """Per-anchor kappa from the labelled votes' accuracy at the anchor's
    agreement level (shrunk to the overall accuracy by one pseudo-vote)."""
    overall = cell.labelled_correct.mean()
    out = np.empty(len(cell.confidence))
    for i, conf in enumerate(cell.confidence):
        same = np.isclose(cell.labelled_confidence, conf)
        out[i] = (cell.labelled_correct[same].sum() + overall) / (same.sum() + 1)
    return _kappa_of(out)


def _softmatch_weights(cell):
    """SoftMatch's truncated Gaussian on the vote's confidence (batch mean and
    variance instead of its running ones): 1 above the mean."""
    conf = cell.confidence
    mean, var = conf.mean(), conf.var() + 1e-6
    return np.where(conf >= mean, 1.0, np.exp(-(conf - mean) ** 2 / (2 * var)))


def variant_table(tolerance=0.01):
    """Prints, per variant of the semantic term, the failing cells of the grid."""
    cells = make_grid()
    full = lambda cell: np.full(len(cell.classes), 1.0)
    true_p = lambda cell: cell.positive_correct.mean()
    variants = {
        "paper (alpha=1)": lambda cell: {},
        "alpha x true precision": lambda cell: dict(alpha=true_p(cell)),
        "alpha x estimated precision": lambda cell: dict(alpha=cell.labelled_correct.mean()),
        "alpha x estimated kappa": lambda cell: dict(alpha=cell.kappa),
        "SoftMatch weights": lambda cell: dict(weights=_softmatch_weights(cell)),
        "SoftMatch weights x kappa": lambda cell: dict(
            weights=cell.kappa * _softmatch_weights(cell)),
        "trusted, true kappa": lambda cell: dict(trust=full(cell) * _kappa_of(true_p(cell))),
        "trusted, estimated kappa (default)": lambda cell: dict(trust=full(cell) * cell.kappa),
        "trusted, kappa per agreement level": lambda cell: dict(trust=_binned_trust(cell)),
        "trusted, estimated precision as kappa": lambda cell: dict(
            trust=full(cell) * cell.labelled_correct.mean()),
    }
    weights = dict(temperature=0.15, c=1.0, lam=0.3)
    reference = np.stack([objective_along_path(cell, alpha=0.0, **weights) for cell in cells])
    rates = np.array([cell.rate for cell in cells])
    print(f"| variant | failing cells | per rate {RATES} | max excess per rate |")
    print("|---|---|---|---|")
    for name, options in variants.items():
        losses = np.stack([objective_along_path(cell, **{**weights, "alpha": 1.0, **options(cell)})
                           for cell in cells])
        cheaper, excess, passes = path_verdicts(losses, reference, tolerance)
        per_rate = [int((~passes[rates == r]).sum()) for r in RATES]
        worst = [f"{excess[rates == r].max():.4f}" for r in RATES]
        print(f"| {name} | {(~passes).sum()} (dearer: {(~cheaper).sum()}) | {per_rate} | "
              f"{' '.join(worst)} |")


if __name__ == "__main__":
    variant_table()
