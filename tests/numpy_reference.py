"""Independent NumPy versions of SemPPL's formulas, written with plain loops."""

import numpy as np


def log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def infonce(anchor, positive, negatives, temperature):
    """-log softmax([a.p, a.n_1, ..., a.n_N] / t)[0] for one anchor."""
    logits = [anchor @ positive] + [anchor @ n for n in negatives]
    return -log_softmax(np.array(logits) / temperature)[0], np.array(logits) / temperature


def kl(p_logits, q_logits):
    """KL(softmax(q) || softmax(p))."""
    lq, lp = log_softmax(q_logits), log_softmax(p_logits)
    return float(np.sum(np.exp(lq) * (lq - lp)))


def trusted_infonce(logits, trust):
    """-log(trust * softmax(logits)[0] + (1 - trust) / len(logits)) for one row."""
    q = np.exp(log_softmax(logits))
    return -np.log(trust * q[0] + (1.0 - trust) / len(logits))


def objective(online, target, neg_idx, positives, pos_mask, t, c, alpha, lam,
              same_view_pairs=True, invariance="kl", kl_on_semantic_positives=True,
              positive_trust=None):
    """SemPPL total loss with loops over views, examples and positives.

    ``neg_idx`` is (B, N) (one draw for all pairs) or (V, L, B, N) (per pair).
    ``positive_trust``: None (InfoNCE) or (B,) trust of each anchor's positives.
    """
    V, B, _ = online.shape
    L = target.shape[0]
    P = positives.shape[2]
    per_pair = np.ndim(neg_idx) == 4
    augm, sem, logits_a, logits_s = [], [], {}, {}
    signed_a, signed_s = [], []
    for i in range(V):
        for j in range(L):
            used = same_view_pairs or L == 1 or i != j
            # MAE-CT_SemPPL's sign: + when i >= j, i counted within its group.
            sign = 1.0 if (i if i < L else i - L) >= j else -1.0
            for b in range(B):
                idx = neg_idx[i, j, b] if per_pair else neg_idx[b]
                negs = [target[j, n] for n in idx]
                loss, lg = infonce(online[i, b], target[j, b], negs, t)
                logits_a[i, j, b] = lg
                if used:
                    augm.append(loss)
                    signed_a.append(sign * loss)
                for p in range(P):
                    loss, lg = infonce(online[i, b], positives[j, b, p], negs, t)
                    if positive_trust is not None:
                        loss = trusted_infonce(lg, positive_trust[b])
                    logits_s[i, j, b, p] = lg
                    if pos_mask[b, p] and used:
                        sem.append(loss)
                        signed_s.append(sign * loss)
    inv_a, inv_s = [], []
    for i in range(L):
        for j in range(L):
            if i == j:
                continue
            for b in range(B):
                inv_a.append(kl(logits_a[i, j, b], logits_a[j, i, b]))
                for p in range(P):
                    if pos_mask[b, p]:
                        inv_s.append(kl(logits_s[i, j, b, p], logits_s[j, i, b, p]))
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0
    terms = dict(l_augm=mean(augm), l_sempos=mean(sem))
    if invariance == "kl":
        terms.update(i_augm=mean(inv_a), i_sempos=mean(inv_s) if kl_on_semantic_positives else 0.0)
    elif invariance == "3p":
        terms.update(i_augm=mean(signed_a), i_sempos=mean(signed_s))
    else:
        terms.update(i_augm=0.0, i_sempos=0.0)
    terms["loss"] = c * (terms["l_augm"] + alpha * terms["l_sempos"]) + lam * (
        terms["i_augm"] + terms["i_sempos"]
    )
    return terms


def knn_vote(queries, keys, key_labels, key_ids, query_ids, k, num_classes):
    """Majority vote over (view, queue) pairs; ties to the larger similarity sum."""
    out = []
    for b in range(queries.shape[1]):
        counts = np.zeros(num_classes)
        simsum = np.zeros(num_classes)
        for v in range(queries.shape[0]):
            for w in range(keys.shape[0]):
                cands = [
                    (queries[v, b] @ keys[w, q], q)
                    for q in range(keys.shape[1])
                    if key_labels[q] >= 0 and not (query_ids[b] >= 0 and key_ids[q] == query_ids[b])
                ]
                cands.sort(key=lambda s: -s[0])
                for s, q in cands[:k]:
                    counts[key_labels[q]] += 1
                    simsum[key_labels[q]] += (s + 1) / 2
        if counts.sum() == 0:
            out.append(-1)
            continue
        best = [c for c in range(num_classes) if counts[c] == counts.max()]
        out.append(max(best, key=lambda c: simsum[c]))
    return np.array(out)


def unit(x, axis=-1):
    return x / np.linalg.norm(x, axis=axis, keepdims=True)


def weighted_knn_scores(ref, ref_labels, queries, num_classes, k, temperature):
    """Loop-by-loop weighted k-NN: cosine similarities, k largest vote exp(s / T)."""
    scores = np.zeros((len(queries), num_classes))
    for i, q in enumerate(queries):
        sims = [float(np.dot(q, r) / (np.linalg.norm(q) * np.linalg.norm(r))) for r in ref]
        for j in sorted(range(len(ref)), key=lambda j: -sims[j])[:k]:
            scores[i, ref_labels[j]] += np.exp(sims[j] / temperature)
    return scores


def pseudo_label_trust(votes_per_step, labels_per_step, num_classes, momentum):
    """Chance-corrected running precision of the labelled votes, step by step.

    Returns the kappa after each step (a list).
    """
    hits = count = 0.0
    out = []
    for votes, labels in zip(votes_per_step, labels_per_step):
        step_hits = step_count = 0
        for v, y in zip(votes, labels):
            if y >= 0 and v >= 0:
                step_count += 1
                step_hits += int(v == y)
        hits = momentum * hits + step_hits
        count = momentum * count + step_count
        chance = 1.0 / num_classes
        precision = (hits + chance) / (count + 1.0)
        out.append(min(max((precision - chance) / (1.0 - chance), 0.0), 1.0))
    return out
