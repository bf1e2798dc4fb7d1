"""Pipeline steps shared by the dataset builders: one source, cache, shuffle, prefetch, info."""

import tensorflow as tf

from tl_suite.data.info import attach_info

AUTOTUNE = tf.data.AUTOTUNE


def check_one_source(hint, **sources):
    """Exactly one of ``sources`` (name -> value) must be given (not None)."""
    given = [name for name, value in sources.items() if value is not None]
    if len(given) != 1:
        received = ", ".join(
            f"{name}={'...' if value is not None and not isinstance(value, str) else value!r}"
            for name, value in sources.items()
        )
        raise ValueError(f"Give exactly one source: {hint}. Received: {received}.")
    return given[0]


def cache_and_shuffle(dataset, cache, shuffled, count, seed, buffer_size=None):
    """Cache ``dataset`` (in memory for True, under a file prefix for a string), then reshuffle
    it every epoch if ``shuffled`` (buffer: all ``count`` examples, at most ``buffer_size``)."""
    if cache:
        dataset = dataset.cache(cache if isinstance(cache, str) else "")
    if shuffled:
        buffer = min(count, buffer_size) if buffer_size else count
        dataset = dataset.shuffle(max(buffer, 1), seed=seed, reshuffle_each_iteration=True)
    return dataset


def finish(dataset, info):
    """Prefetch ``dataset`` and attach its `DatasetInfo`."""
    return attach_info(dataset.prefetch(AUTOTUNE), info)
