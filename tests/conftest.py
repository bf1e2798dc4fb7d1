import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Each test session converts weights into its own cache, so conversion is tested too; the
    corpus archives `make install` fetched stay where they are."""
    from tl_suite.data.corpora import corpora_dir

    os.environ.setdefault("TL_SUITE_CORPORA", corpora_dir())
    os.environ["TL_SUITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("tl_suite_cache"))


@pytest.fixture
def tiny_arrays():
    """60 tiny colour images whose class is readable from the pixels (red / green / blue)."""
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    images = rng.integers(0, 60, size=(60, 20, 20, 3)).astype("uint8")
    for index, label in enumerate(labels):
        images[index, :, :, label] = 200 + rng.integers(0, 50)
    return images, labels.astype("int32")
