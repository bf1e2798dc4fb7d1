"""One helper for CPU / GPU / multi-GPU / TPU / multi-worker distribution strategies."""

import glob
import os

import tensorflow as tf

STRATEGIES = ("auto", "cpu", "gpu", "mirrored", "tpu", "multi_worker")


def get_strategy(name="auto", tpu_address=None):
    """Return a `tf.distribute.Strategy`; build and compile models inside ``strategy.scope()``.

    Args:
        name: ``"auto"`` (TPU if one is configured, several GPUs → mirrored, one GPU, else CPU),
            ``"cpu"``, ``"gpu"`` (one GPU), ``"mirrored"`` (all local GPUs, or all logical
            CPU devices when there is no GPU), ``"tpu"``, ``"multi_worker"`` (reads
            ``TF_CONFIG``).
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
    return tf.distribute.MultiWorkerMirroredStrategy()


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
