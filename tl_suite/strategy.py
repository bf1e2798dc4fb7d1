"""One helper for CPU / GPU / multi-GPU / TPU / multi-worker distribution strategies."""

import glob
import json
import os

import keras
import tensorflow as tf

STRATEGIES = ("auto", "cpu", "gpu", "mirrored", "tpu", "multi_worker")


def get_strategy(name="auto", tpu_address=None):
    """Return a `tf.distribute.Strategy`; build and compile models inside ``strategy.scope()``.

    Args:
        name: ``"auto"`` (``TF_CONFIG`` with several workers → multi-worker, TPU if one is
            configured, several GPUs → mirrored, one GPU, else CPU),
            ``"cpu"``, ``"gpu"`` (one GPU), ``"mirrored"`` (all local GPUs, or all logical
            CPU devices when there is no GPU), ``"tpu"``, ``"multi_worker"`` (reads
            ``TF_CONFIG``; call it before TensorFlow runs anything else in the program).
        tpu_address: TPU name or address for ``"tpu"`` (``None``: from the environment).

    Returns:
        A `tf.distribute.Strategy`.

    Example:
    >>> import tl_suite
    >>> tl_suite.get_strategy("cpu").num_replicas_in_sync
    1
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy. Choose one of {list(STRATEGIES)}. Received: name={name!r}."
        )
    if name == "multi_worker" or (name == "auto" and _cluster_workers() > 1):
        return _multi_worker()
    # Listing devices starts TensorFlow's runtime, after which a multi-worker strategy can
    # no longer set up its collective ops: so only after the multi-worker case.
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if tpu_address is not None:
            return get_strategy("tpu", tpu_address)
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "cpu":
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    if name == "gpu":
        if not gpus:
            raise RuntimeError(
                "name='gpu' but TensorFlow sees no GPU. Use name='auto' or 'cpu', or install a "
                "GPU build of TensorFlow (`pip install tensorflow[and-cuda]`)."
            )
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    if name == "mirrored":
        devices = [device.name for device in gpus] or [
            device.name for device in tf.config.list_logical_devices("CPU")
        ]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "tpu":
        if tpu_address is None:
            tpu_address = _local_tpu()
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as error:
            raise RuntimeError(
                f"No TPU found ({error}). Run on a TPU VM or pass `tpu_address`, or use "
                f"name='auto'. Received: tpu_address={tpu_address!r}."
            ) from None
        return tf.distribute.TPUStrategy(resolver)


def _multi_worker():
    if _cluster_workers() < 1:
        raise RuntimeError(
            "name='multi_worker' needs TF_CONFIG describing the cluster, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
            '"index": 0}} on each worker (see the README). Received: TF_CONFIG='
            f"{os.environ.get('TF_CONFIG')!r}."
        )
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        if "at program startup" not in str(error):
            raise
        raise RuntimeError(
            "A multi-worker strategy must be made before TensorFlow runs anything (listing "
            "devices, making a tensor or a dataset, building a model). Call "
            "tl_suite.get_strategy('multi_worker') first thing in the program, right after "
            f"the imports. Received: {error}"
        ) from None


def _cluster_workers():
    """Number of workers (chief included) that ``TF_CONFIG`` names; 0 without TF_CONFIG."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (json.JSONDecodeError, AttributeError):
        raise ValueError(f"TF_CONFIG is not valid JSON. Received: TF_CONFIG={raw!r}.") from None
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def set_mixed_precision(mode="auto"):
    """Set Keras' global dtype policy for the models built afterwards, and return its name.

    ``"auto"`` picks ``"mixed_bfloat16"`` on a TPU, ``"mixed_float16"`` on a GPU and
    ``"float32"`` on a CPU (measured here: bfloat16 on this CPU is about 2x slower than float32).
    tl_suite heads always compute their outputs in float32, and Keras wraps the optimizer in a
    loss-scale optimizer under float16, so training stays stable.

    Example:
    >>> import tl_suite
    >>> tl_suite.set_mixed_precision("auto")  # on this CPU-only machine
    'float32'
    """
    if mode not in PRECISIONS:
        raise ValueError(f"Unknown `mode`. Choose one of {list(PRECISIONS)}. Received: mode={mode!r}.")
    if mode == "auto":
        if tf.config.list_logical_devices("TPU"):
            mode = "mixed_bfloat16"
        elif tf.config.list_logical_devices("GPU"):
            mode = "mixed_float16"
        else:
            mode = "float32"
    keras.mixed_precision.set_global_policy(mode)
    return mode


def _local_tpu():
    """The TPU to use when none is named: this TPU VM's, or ``TPU_NAME``; else a clear error.

    Checked locally so that a machine without a TPU never waits on a cloud metadata server.
    """
    if os.environ.get("TPU_NAME"):
        return os.environ["TPU_NAME"]
    if glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"):
        return "local"
    raise RuntimeError(
        "No TPU found: this is not a TPU VM and TPU_NAME is not set. Run on a TPU VM, set "
        "TPU_NAME, or pass `tpu_address`; or use name='auto'."
    )
