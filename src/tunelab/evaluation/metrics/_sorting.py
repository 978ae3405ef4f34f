"""Labels in score order from a value sort of packed keys, with exact ties.

An unweighted binary ranking needs only the sequence of labels in score order and
which neighbours tie. Packing a monotone 31-bit level of each score and its label
into one uint32 lets numpy sort plain values instead of building a permutation of
all samples. Large inputs are sorted most-significant byte first: chunks small
enough to stay in cache are counting-sorted by their top byte (numpy argsorts
uint8 in linear time) and scattered into 256 buckets, each bucket is grouped by its
next byte, and fixed-width row sorts (which numpy runs with sorting networks)
followed by a merge of the sorted rows finish the order. Every temporary stays
small, so the sort never waits on fresh memory from the operating system, which
costs more than the sorting itself on large arrays. Distinct scores that share a
level are rare; they are told apart afterwards from the scores themselves.
"""

from __future__ import annotations

import itertools

import numpy as np

LEVEL_BITS = 31
# Below this size one np.sort of the keys beats the bucket passes.
GROUPED_MIN_SIZE = 1 << 17
# Samples per chunk: the chunk and its argsort workspace stay in cache.
_CHUNK = 1 << 15
# Rows this wide sort at about a nanosecond a key.
_ROW = 512


def quantize(scores: np.ndarray, bits: int) -> np.ndarray | None:
    """Monotone integer key ``floor((s - min) * scale)`` below ``2**bits``, as uint32.

    The key never decreases when the score increases, so sorting by key sorts the
    scores except inside runs of equal keys. None when the range does not scale.
    """
    affine = _affine(scores, bits)
    if affine is None:
        return None
    shifted = np.subtract(scores, affine[0])
    np.multiply(shifted, affine[1], out=shifted)
    return shifted.astype(np.uint32)


def _affine(scores: np.ndarray, bits: int) -> tuple[float, float] | None:
    """``(offset, scale)`` mapping the scores into ``[0, 2**bits)``, None if none does."""
    lo, hi = scores.min(), scores.max()
    with np.errstate(over="ignore"):
        span = hi - lo
    # The margin keeps rounding in the affine map below 2**bits.
    scale = float(2**bits - 2 ** (bits - 20)) / span if span > 0 else np.inf
    if not (np.isfinite(span) and np.isfinite(scale)):
        return None
    return lo, scale


def sorted_keys(scores: np.ndarray, is_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Packed keys ``level << 1 | label`` (uint32) in sample order and sorted.

    None when the scores cannot be quantized (constant, or a range that overflows).
    """
    if scores.shape[0] == 0:
        nothing = np.empty(0, dtype=np.uint32)
        return nothing, nothing
    affine = _affine(scores, LEVEL_BITS)
    if affine is None:
        return None
    if scores.shape[0] < GROUPED_MIN_SIZE:
        keys = np.empty(scores.shape[0], dtype=np.uint32)
        _pack(scores, is_pos, affine, keys)
        return keys, np.sort(keys)
    keys, chunk_sorted, counts = _pack_and_order_chunks(scores, is_pos, affine)
    by_top_byte, starts = _scatter_buckets(chunk_sorted, counts)
    # The chunk-ordered copy is spent: it receives the next pass.
    ordered = _group_buckets(by_top_byte, starts, out=chunk_sorted)
    _finish(ordered)
    return keys, ordered


def _pack(
    scores: np.ndarray, is_pos: np.ndarray, affine: tuple[float, float], out: np.ndarray
) -> None:
    level = np.subtract(scores, affine[0])
    level *= affine[1]
    np.copyto(out, level, casting="unsafe")
    out <<= 1
    out |= is_pos


def _pack_and_order_chunks(
    scores: np.ndarray, is_pos: np.ndarray, affine: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packed keys; the same with each chunk ordered by top byte; each chunk's counts.

    Each chunk is counting-sorted by its top byte while it is in cache.
    """
    n = scores.shape[0]
    keys = np.empty(n, dtype=np.uint32)
    chunk_sorted = np.empty(n, dtype=np.uint32)
    top = np.empty(_CHUNK, dtype=np.uint8)
    counts = np.empty((-(-n // _CHUNK), 256), dtype=np.intp)
    edges = np.arange(257)
    for i, start in enumerate(range(0, n, _CHUNK)):
        part = slice(start, start + _CHUNK)
        chunk = keys[part]
        digit = top[: chunk.shape[0]]
        _pack(scores[part], is_pos[part], affine, chunk)
        np.right_shift(chunk, 24, out=digit, casting="unsafe")
        np.take(chunk, np.argsort(digit, kind="stable"), out=chunk_sorted[part])
        np.right_shift(chunk_sorted[part], 24, out=digit, casting="unsafe")
        counts[i] = np.diff(np.searchsorted(digit, edges))
    return keys, chunk_sorted, counts


def _scatter_buckets(chunk_sorted: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Keys grouped by their top byte, and where each of the 256 buckets starts.

    A chunk's run for byte v lands at the start of bucket v plus what earlier
    chunks put there.
    """
    total = counts.sum(axis=0)
    bucket_start = np.cumsum(total) - total
    before = np.cumsum(counts, axis=0) - counts
    in_chunk = np.cumsum(counts, axis=1) - counts
    offset = bucket_start + before - in_chunk
    ordered = np.empty_like(chunk_sorted)
    step = np.arange(_CHUNK)
    for i, start in enumerate(range(0, chunk_sorted.shape[0], _CHUNK)):
        chunk = chunk_sorted[start : start + _CHUNK]
        target = np.repeat(offset[i], counts[i])
        target += step[: chunk.shape[0]]
        ordered[target] = chunk
    return ordered, [*bucket_start.tolist(), chunk_sorted.shape[0]]


def _group_buckets(keys: np.ndarray, starts: list[int], out: np.ndarray) -> np.ndarray:
    """``keys`` (grouped by top byte) grouped by top 16 bits into ``out``.

    Each bucket is counting-sorted by its second byte while it is in cache.
    """
    digit = np.empty(keys.shape[0], dtype=np.uint8)
    np.right_shift(keys, 16, out=digit, casting="unsafe")
    for lo, hi in itertools.pairwise(starts):
        np.take(keys[lo:hi], np.argsort(digit[lo:hi], kind="stable"), out=out[lo:hi])
    return out


def _finish(ordered: np.ndarray) -> None:
    """Sort keys grouped by their top 16 bits, in place.

    Sorted rows leave only the groups cut by a row boundary out of order; the
    merge of the sorted runs (timsort) gallops over everything else.
    """
    full = ordered.shape[0] // _ROW * _ROW
    ordered[:full].reshape(-1, _ROW).sort(axis=1)
    ordered.sort(kind="stable")


def ranked_labels(
    is_pos: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Labels in ascending score order and the start of each run of tied scores.

    Returns:
        ``(labels, starts)``: ``labels`` is True for a positive; ``starts`` is None
        when all scores are distinct. None when the scores cannot be quantized
        (constant, or a range that overflows).
    """
    packed = sorted_keys(scores, is_pos)
    if packed is None:
        return None
    keys, ordered = packed
    labels = np.empty(ordered.shape[0], dtype=bool)
    np.bitwise_and(ordered, 1, out=labels, casting="unsafe")
    levels = ordered
    levels >>= 1
    same = levels[1:] == levels[:-1]
    if not same.any():
        return labels, None
    return labels, _tie_starts(keys, levels, same, scores, is_pos, labels)


def _tie_starts(
    keys: np.ndarray,
    levels: np.ndarray,
    same: np.ndarray,
    scores: np.ndarray,
    is_pos: np.ndarray,
    labels: np.ndarray,
) -> np.ndarray | None:
    """Starts of the runs of equal scores (None if none); fixes ``labels`` in place.

    ``same[i]`` says sorted positions i and i + 1 share a level. A level whose
    samples all hold one score is a tie, whatever the order of its labels; a level
    holding several scores is re-sorted by score and its labels rewritten.
    """
    in_run = np.zeros(levels.shape[0], dtype=bool)
    in_run[:-1] = same
    in_run[1:] |= same
    where = np.flatnonzero(in_run)
    run_start = np.ones(where.shape[0], dtype=bool)
    run_start[1:] = ~same[where[1:] - 1]
    run_levels = levels[where[run_start]]
    members, run_of = _members(keys, run_levels)
    member_scores = scores[members]
    first = np.empty(run_levels.shape[0])
    first[run_of] = member_scores
    mixed = np.zeros(run_levels.shape[0], dtype=bool)
    mixed[run_of[member_scores != first[run_of]]] = True
    new_group = run_start.copy()
    if mixed.any():
        chosen = members[mixed[run_of]]
        chosen = chosen[np.argsort(scores[chosen], kind="stable")]
        # Both run through the mixed levels in ascending order, one slot a sample.
        in_mixed = mixed[np.cumsum(run_start) - 1]
        labels[where[in_mixed]] = is_pos[chosen]
        ordered_scores = scores[chosen]
        differs = np.ones(chosen.shape[0], dtype=bool)
        differs[1:] = ordered_scores[1:] != ordered_scores[:-1]
        new_group[in_mixed] |= differs
    if new_group.all():
        return None
    starts = np.ones(levels.shape[0], dtype=bool)
    starts[where] = new_group
    return np.flatnonzero(starts)


def _members(keys: np.ndarray, run_levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the samples whose level is in sorted ``run_levels``, and which one.

    A table over the low key bits, sized to keep false hits to a few percent,
    discards most other samples with one gather a chunk; the false hits fall out
    in the binary search.
    """
    bits = min(max(int(run_levels.shape[0]).bit_length() + 6, 16), 24)
    mask = np.uint32((1 << bits) - 1)
    table = np.zeros(1 << bits, dtype=bool)
    low = (run_levels << 1) & mask
    table[low] = True
    table[low | 1] = True
    found = [
        np.flatnonzero(table[keys[start : start + _CHUNK] & mask]) + start
        for start in range(0, keys.shape[0], _CHUNK)
    ]
    candidates = np.concatenate(found)
    candidate_levels = keys[candidates] >> 1
    at = np.minimum(np.searchsorted(run_levels, candidate_levels), run_levels.shape[0] - 1)
    hit = run_levels[at] == candidate_levels
    return candidates[hit], at[hit]
