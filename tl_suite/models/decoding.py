"""Per-word tag probabilities -> tags: the best sequence the tagging scheme allows, or argmax.

A tagger scores each word on its own, so the most likely tag of each word can make a sequence
no entity can have (``O I-person``, ``B-person I-company``). Constrained decoding picks the
most likely sequence among the valid ones (Viterbi over the per-word log-probabilities with
the scheme's transitions): for BIO (IOB2) an ``I-x`` only follows ``B-x`` or ``I-x``; for BIOES
(also IOBES, BILOU) ``B-x`` is followed by ``I-x``/``E-x`` of its type, and an entity ends with
``E-x`` or is one ``S-x``. Tags of no recognised scheme (``"PER"``, ``"LOC"``) decode by argmax.
"""

import functools

import numpy as np

DECODINGS = ("constrained", "argmax")

_INSIDE = {"bio": ("I",), "bioes": ("I", "E", "M", "L")}
_SCHEME_PREFIXES = {"bio": {"B", "I"}, "bioes": {"B", "I", "E", "S", "M", "L", "U"}}


def _split_tag(tag):
    """``("B", "person")`` for ``"B-person"``, ``("O", None)`` for ``"O"``, else None."""
    if tag == "O":
        return "O", None
    if len(tag) > 2 and tag[1] in "-_" and tag[0] in "BIESMLU":
        return tag[0], tag[2:]
    return None


def detect_tag_scheme(tags):
    """The tagging scheme of the tag names ``tags``: ``"bio"``, ``"bioes"`` or None (none).

    BIO needs only ``O``, ``B-x`` and ``I-x`` tags, each ``I-x`` with its ``B-x``; BIOES also
    has ``E-x``/``S-x`` (or BILOU's ``L-x``/``U-x``, or ``M-x`` for ``I-x``), each type that
    has ``B-x`` or an inside tag having both ``B-x`` and an end tag. Anything else (plain
    type names, a stray ``I-x`` without ``B-x``) is None: such tags decode by argmax.

    Example:
    >>> detect_tag_scheme(["O", "B-loc", "I-loc"]), detect_tag_scheme(["O", "S-loc", "B-loc", "E-loc"])
    ('bio', 'bioes')
    >>> print(detect_tag_scheme(["PER", "LOC"]))
    None
    """
    parts = [_split_tag(str(tag)) for tag in tags]
    if not parts or any(part is None for part in parts):
        return None
    prefixes = {prefix for prefix, _ in parts if prefix != "O"}
    by_type = {}
    for prefix, kind in parts:
        if kind is not None:
            by_type.setdefault(kind, set()).add(prefix)
    if prefixes <= _SCHEME_PREFIXES["bio"]:
        return "bio" if all("B" in found for found in by_type.values()) else None
    if not prefixes <= _SCHEME_PREFIXES["bioes"]:
        return None
    for found in by_type.values():
        opens_span = found & {"B", "I", "M", "E", "L"}
        if opens_span and not ("B" in found and found & {"E", "L"}):
            return None
    return "bioes"


def build_transition_masks(tags):
    """``(start, transitions, end)`` boolean masks of the sequences ``tags``' scheme allows:
    which tag may open a sentence, follow each tag (``transitions[previous, next]``) and close
    a sentence. Without a scheme (see `detect_tag_scheme`) everything is allowed.

    Example:
    >>> start, transitions, end = build_transition_masks(["O", "B-loc", "I-loc"])
    >>> start.tolist(), transitions[0].tolist(), end.tolist()
    ([True, True, False], [True, True, False], [True, True, True])
    """
    size = len(tags)
    scheme = detect_tag_scheme(tags)
    if scheme is None:
        return np.ones(size, bool), np.ones((size, size), bool), np.ones(size, bool)
    parts = [_split_tag(str(tag)) for tag in tags]
    inside = _INSIDE[scheme]
    closing = ("O", "E", "S", "L", "U") if scheme == "bioes" else ("O", "B", "I")
    opening = ("O", "B", "S", "U")
    start = np.array([prefix in opening for prefix, _ in parts])
    end = np.array([prefix in closing for prefix, _ in parts])
    transitions = np.zeros((size, size), bool)
    for i, (before, before_type) in enumerate(parts):
        open_span = before in ("B", "I", "M") if scheme == "bioes" else before in ("B", "I")
        for j, (after, after_type) in enumerate(parts):
            continues = after in inside
            if scheme == "bioes" and open_span:
                transitions[i, j] = continues and after_type == before_type
            elif continues:
                transitions[i, j] = open_span and after_type == before_type
            else:
                transitions[i, j] = True
    return start, transitions, end


@functools.lru_cache(maxsize=32)
def _cached_masks(tags):
    """`build_transition_masks` of a tuple of tags, built once per tag set (read-only)."""
    masks = build_transition_masks(list(tags))
    for mask in masks:
        mask.flags.writeable = False
    return masks


def decode_constrained(log_probabilities, start, transitions, end):
    """Viterbi: the tag indices of the highest-scoring sequence the masks allow (see
    `build_transition_masks`), scored by the sum of the words' log-probabilities.

    ``log_probabilities`` is ``(words, tags)``. When the masks allow no sequence at all (a
    scheme whose end tags are missing), the words are decoded by argmax.
    """
    scores = np.asarray(log_probabilities, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError("`log_probabilities` must be (words, tags). "
                         f"Received: log_probabilities with shape {scores.shape}.")
    if len(scores) == 0:
        return np.zeros(0, dtype=int)
    penalty = np.where(transitions, 0.0, -np.inf)
    best = np.where(start, scores[0], -np.inf)
    back = np.zeros(scores.shape, dtype=int)
    for position in range(1, len(scores)):
        candidates = best[:, None] + penalty  # (previous, next)
        back[position] = candidates.argmax(axis=0)
        best = candidates.max(axis=0) + scores[position]
    best = np.where(end, best, -np.inf)
    if not np.isfinite(best.max()):
        return scores.argmax(axis=-1)
    path = [int(best.argmax())]
    for position in range(len(scores) - 1, 0, -1):
        path.append(int(back[position, path[-1]]))
    return np.array(path[::-1])


def find_invalid_sequences(sequences, tags):
    """Indices of the tag sequences (lists of tag names) that ``tags``' scheme does not allow,
    e.g. an ``I-x`` after ``O`` in BIO. Data tagged in IOB1 (an entity may open with ``I-x``)
    shows up here: decode its predictions with ``decoding="argmax"``.

    Example:
    >>> find_invalid_sequences([["B-loc", "I-loc"], ["O", "I-loc"], []], ["O", "B-loc", "I-loc"])
    [1]
    """
    start, transitions, end = _cached_masks(tuple(str(tag) for tag in tags))
    index = {tag: position for position, tag in enumerate(tags)}
    invalid = []
    for number, sequence in enumerate(sequences):
        path = [index[tag] for tag in sequence]
        if path and not (start[path[0]] and end[path[-1]] and all(
                transitions[a, b] for a, b in zip(path, path[1:]))):
            invalid.append(number)
    return invalid


def check_decoding(decoding):
    """Validate a ``decoding`` argument (``"constrained"`` or ``"argmax"``)."""
    if decoding not in DECODINGS:
        raise ValueError(
            "`decoding` must be 'constrained' (the best sequence the BIO/BIOES scheme allows) "
            f"or 'argmax' (each word's most likely tag). Received: decoding={decoding!r}."
        )


def decode_tags(probabilities, tags, decoding="constrained"):
    """The tag name of each word of one sentence from its ``(words, tags)`` probabilities.

    Args:
        probabilities: Per-word tag probabilities (rows sum to 1), shape ``(words, len(tags))``.
        tags: The tag names (``model.tag_names``).
        decoding: ``"constrained"``: the most likely sequence the tags' scheme allows (BIO or
            BIOES; plain argmax for tags of no scheme). ``"argmax"``: each word's most likely tag.

    Returns:
        A list of tag names, one per word.

    Example:
    >>> import numpy as np
    >>> tags = ["O", "B-per", "I-per"]
    >>> probabilities = np.array([[0.6, 0.3, 0.1],    # argmax: O
    ...                           [0.1, 0.4, 0.5]])   # argmax: I-per, invalid after O
    >>> decode_tags(probabilities, tags, decoding="argmax")
    ['O', 'I-per']
    >>> decode_tags(probabilities, tags)
    ['O', 'B-per']
    """
    check_decoding(decoding)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[-1] != len(tags):
        raise ValueError(
            f"`probabilities` must be (words, {len(tags)}): one column per tag. "
            f"Received: probabilities with shape {probabilities.shape}."
        )
    if decoding == "argmax":
        indices = probabilities.argmax(axis=-1)
    else:
        indices = decode_constrained(np.log(np.clip(probabilities, 1e-12, None)),
                                     *_cached_masks(tuple(str(tag) for tag in tags)))
    return [tags[index] for index in indices]
