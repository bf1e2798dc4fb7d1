import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tl_suite.data.images import image_dataset
from tl_suite.data.info import dataset_info
from tl_suite.models.image_model import build_image_classifier

TINY = "tiny_efficientnet_lite"
COLOURS = {"blue": (20, 30, 220), "green": (30, 210, 40), "red": (220, 30, 20)}


def _all(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(xs), np.concatenate(ys)


def _fake_huge_png(path, width=30000, height=30000):
    """A PNG whose header claims width x height pixels (the body is tiny)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 16)
    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


@pytest.fixture
def bad_corpus(tmp_path):
    """Class folders of solid-colour images plus every kind of bad file."""
    root = tmp_path / "photos"
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for index in range(4):
            Image.new("RGB", (40 + index, 30), colour).save(root / name / f"good{index}.jpg", quality=95)
    red, green, blue = (root / n for n in ("red", "green", "blue"))
    # Valid but unusual images, converted once and counted:
    Image.new("CMYK", (32, 32), (0, 200, 200, 0)).save(red / "cmyk.jpg")
    rgba = Image.new("RGBA", (32, 32), (*COLOURS["green"], 255))
    rgba.save(green / "alpha.png")
    Image.fromarray(np.full((32, 32), 60000, dtype=np.uint16)).save(blue / "sixteen_bit.png")
    frames = [Image.new("RGB", (32, 32), (20, 30, 200 + 20 * i)) for i in range(3)]
    frames[0].save(blue / "animated.gif", save_all=True, append_images=frames[1:])
    # Bad files, skipped and reported:
    (red / "notes.jpg").write_text("this is a text file, not a JPEG")
    full = (root / "red" / "good0.jpg").read_bytes()
    (red / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (green / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    Image.new("RGB", (1, 1), COLOURS["green"]).save(green / "one_pixel.png")
    _fake_huge_png(blue / "bomb.png")
    (blue / "readme.txt").write_text("not an image extension")
    return root


def test_arrays_become_rgb_uint8_with_pixels_preserved():
    gray = np.arange(2 * 4 * 4, dtype="uint8").reshape(2, 4, 4)
    dataset = image_dataset(images=gray, labels=np.array([0, 1]), shuffle=False, verbose=False)
    x, y = _all(dataset)
    assert x.dtype == np.uint8 and x.shape == (2, 4, 4, 3)
    for channel in range(3):
        np.testing.assert_array_equal(x[..., channel], gray)
    np.testing.assert_array_equal(y, [0, 1])
    assert dataset.class_names == ["0", "1"]


def test_split_is_seeded_disjoint_and_complete(tiny_arrays):
    images, labels = tiny_arrays
    ids = np.arange(len(images)).astype("float32")  # regression targets double as ids
    def split(seed):
        train, validation = image_dataset(
            images=images, labels=ids, validation_split=0.25, subset="both", seed=seed, verbose=False)
        return set(_all(train)[1].tolist()), set(_all(validation)[1].tolist())
    train, validation = split(3)
    assert len(validation) == 15 and not train & validation and train | validation == set(ids.tolist())
    assert split(3) == (train, validation) and split(4) != (train, validation)


def test_augmentation_changes_training_images_only(tiny_arrays):
    images, labels = tiny_arrays
    kwargs = dict(images=images, labels=labels, validation_split=0.5, subset="both", seed=1,
                  shuffle=False, verbose=False)
    plain_train, plain_validation = image_dataset(**kwargs)
    aug_train, aug_validation = image_dataset(augment=True, **kwargs)
    plain_x, plain_y = _all(plain_train)
    aug_x, aug_y = _all(aug_train)
    np.testing.assert_array_equal(plain_y, aug_y)
    assert aug_x.dtype == np.uint8 and aug_x.shape == plain_x.shape
    changed = [not np.array_equal(a, b) for a, b in zip(aug_x, plain_x)]
    assert sum(changed) >= 0.9 * len(changed)
    np.testing.assert_array_equal(_all(plain_validation)[0], _all(aug_validation)[0])
    # a second epoch draws new augmentations
    assert not np.array_equal(_all(aug_train)[0], aug_x)


def test_mixup_and_cutmix_give_soft_one_hot_labels(tiny_arrays):
    images, labels = tiny_arrays
    train, validation = image_dataset(
        images=images, labels=labels, validation_split=0.2, subset="both", augment=True,
        mixup=True, cutmix=True, verbose=False)
    _, y = _all(train)
    assert y.shape == (48, 3)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    assert ((y > 0) & (y < 1)).any()
    _, y_validation = _all(validation)
    assert set(np.unique(y_validation)) <= {0.0, 1.0}


def test_directory_with_bad_files_skips_converts_and_reports(bad_corpus, capsys):
    train = image_dataset(directory=str(bad_corpus), backbone=TINY, shuffle=False)
    report = train.report
    assert train.class_names == ["blue", "green", "red"]
    skipped = {path.split("/")[-1]: reason for path, reason in report.skipped}
    assert set(skipped) == {"notes.jpg", "truncated.jpg", "corrupt.png", "one_pixel.png", "bomb.png"}
    assert "decompression-bomb" in skipped["bomb.png"] and "max_image_pixels" in skipped["bomb.png"]
    assert "min_image_size" in skipped["one_pixel.png"]
    assert "truncated" in skipped["truncated.jpg"] or "corrupt" in skipped["truncated.jpg"]
    assert "not a readable image" in skipped["notes.jpg"]
    converted = {note: count for note, count in report.notes.items() if note.startswith("converted: ")}
    assert sum(converted.values()) == 4 and len(report.notes) == 4
    assert any("CMYK" in r for r in converted) and any("alpha" in r for r in converted)
    assert any("16-bit" in r for r in converted) and any("animated" in r for r in converted)
    assert report.ignored_files[0].endswith("readme.txt")
    assert report.used == 16 and report.per_class == {"blue": 6, "green": 5, "red": 5}
    printed = capsys.readouterr().out
    assert "skipped 5" in printed and "bomb.png" in printed
    assert "16 images used in 3 classes (blue: 6, green: 5, red: 5)" in printed
    info = dataset_info(train)
    assert info.kind == "image" and info.report is report and info.num_examples == 16
    assert info.label_mode == "int" and not info.shuffled and not info.augmented
    x, y = _all(train)
    assert x.shape == (16, 32, 32, 3) and x.dtype == np.uint8
    # Never a silently wrong label: the dominant channel of each solid image matches its folder.
    dominant_class = {2: 0, 1: 1, 0: 2}  # blue, green, red channel -> class index
    means = [np.sort(image.reshape(-1, 3).mean(axis=0)) for image in x]
    coloured = [i for i in range(len(x)) if means[i][2] - means[i][1] > 100]  # not the gray 16-bit one
    assert len(coloured) == 15
    for i in coloured:
        assert dominant_class[int(x[i].reshape(-1, 3).mean(0).argmax())] == y[i]


def test_empty_class_folder_is_a_clear_error(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "cats" / "a.png")
    with pytest.raises(ValueError, match="dogs") as info:
        image_dataset(directory=str(tmp_path), verbose=False)
    assert "Add images" in str(info.value)


def test_folder_with_no_images_is_a_clear_error(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="No image files found"):
        image_dataset(directory=str(tmp_path), verbose=False)
    with pytest.raises(ValueError, match="no class sub-folders"):
        image_dataset(directory=str(tmp_path / "cats"), verbose=False)


def test_missing_directory_and_bad_arguments_are_clear_errors(tmp_path, tiny_arrays):
    images, labels = tiny_arrays
    with pytest.raises(FileNotFoundError, match="Received: directory="):
        image_dataset(directory=str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="exactly one source"):
        image_dataset(directory=str(tmp_path), images=images, labels=labels)
    with pytest.raises(ValueError, match="len\\(labels\\)=59"):
        image_dataset(images=images, labels=labels[:-1])
    with pytest.raises(ValueError, match="go together"):
        image_dataset(images=images, labels=labels, validation_split=0.2)
    with pytest.raises(ValueError, match=r"images \* 255"):
        image_dataset(images=images / 255.0, labels=labels)
    with pytest.raises(ValueError, match=r"20 labels are not in the class list \['a', 'b'\]: labels\[2\]: 2"):
        image_dataset(images=images, labels=labels, class_names=["a", "b"])


def test_tfds_offline_error_names_alternatives(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")

    def offline(*args, **kwargs):
        raise OSError("Failed to resolve host")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(RuntimeError) as info:
        image_dataset(tfds_name="tf_flowers")
    assert "load_fashion_mnist" in str(info.value) and "directory=" in str(info.value)


def test_directory_dataset_trains_a_model(bad_corpus):
    train, validation = image_dataset(
        directory=str(bad_corpus), backbone=TINY, validation_split=0.25, subset="both",
        batch_size=4, augment=True, verbose=False)
    model = build_image_classifier(TINY, num_classes=3, weights=None)
    history = model.fit(train, validation_data=validation, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_each_image_step_works_alone(tiny_arrays):
    from tl_suite.data.images import (
        augment_batch,
        check_image_arrays,
        image_pipeline,
        make_augmenter,
        make_mixers,
        read_images,
    )

    rgba = np.zeros((2, 4, 4, 4), "uint8")
    rgba[0, ..., 3] = 255  # opaque black; image 1 fully transparent -> white
    pixels, labels = check_image_arrays(rgba, [0, 1])
    assert pixels.shape == (2, 4, 4, 3) and pixels[0].max() == 0 and pixels[1].min() == 255
    source = read_images(images=rgba, labels=[0, 1], class_names=["black", "white"])
    assert source.class_names == ["black", "white"] and not source.files and source.report is None
    batches = list(image_pipeline(pixels, np.array([0, 1]), training=False, batch_size=1))
    assert [int(y.numpy()[0]) for _, y in batches] == [0, 1] and batches[1][0].numpy().min() == 255
    images, labels = tiny_arrays
    augmenter = make_augmenter(flip=True, rotation=0, zoom=0, translation=0, contrast=0, seed=1)
    assert [layer.__class__.__name__ for layer in augmenter.layers] == ["RandomFlip"]
    mixers = make_mixers(mixup=True, seed=1)
    mixed, soft = augment_batch(images[:8], labels[:8], augmenter, mixers, num_classes=3)
    assert mixed.dtype == "uint8" and soft.shape == (8, 3)
    np.testing.assert_allclose(soft.numpy().sum(axis=1), 1.0, rtol=1e-5)
    flipped, same = augment_batch(images[:8], labels[:8], augmenter)
    np.testing.assert_array_equal(same, labels[:8])
    assert all(np.array_equal(f, i) or np.array_equal(f, i[:, ::-1]) for f, i in zip(flipped.numpy(), images[:8]))


def test_one_subset_and_file_cache(tiny_arrays, tmp_path):
    images, labels = tiny_arrays
    ids = np.arange(60).astype("float32")
    kwargs = dict(images=images, labels=ids, validation_split=0.2, seed=2, verbose=False)
    validation = image_dataset(subset="validation", cache=str(tmp_path / "cache"), **kwargs)
    _, both_validation = image_dataset(subset="both", **kwargs)
    np.testing.assert_array_equal(_all(validation)[1], _all(both_validation)[1])
    np.testing.assert_array_equal(_all(validation)[1], _all(validation)[1])  # read back from the cache
    assert any(path.name.startswith("cache") for path in tmp_path.iterdir())
    train = image_dataset(subset="training", **kwargs)
    assert train.info.num_examples == 48 and train.info.shuffled and validation.info.num_examples == 12
    assert sorted(_all(train)[1].tolist() + _all(validation)[1].tolist()) == ids.tolist()


AUGMENTED_EPOCHS = """
import hashlib, json
import numpy as np
from tl_suite.data.images import image_dataset
images = (np.arange(24 * 20 * 20 * 3) % 251).reshape(24, 20, 20, 3).astype("uint8")

def batches(seed, augment=True, epochs=2):
    data = image_dataset(images=images, labels=np.arange(24) % 3, batch_size=5, augment=augment,
                         mixup=augment, seed=seed, verbose=False)
    return [[hashlib.sha1(x.numpy().tobytes()).hexdigest() + hashlib.sha1(y.numpy().tobytes()).hexdigest()
             for x, y in data] for _ in range(epochs)]

print(json.dumps({"epochs": batches(7), "other_seed": batches(8, epochs=1)[0],
                  "plain": batches(7, augment=False, epochs=1)[0]}))
"""


@pytest.mark.slow  # two fresh processes importing TensorFlow: 10-20 s
def test_seeded_augmentation_is_the_same_in_every_process(tmp_path):
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "augment.py"
    script.write_text(AUGMENTED_EPOCHS)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    runs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env, text=True)
            for _ in range(2)]
    first, second = [json.loads(run.communicate(timeout=300)[0].strip().splitlines()[-1]) for run in runs]
    assert first["epochs"] == second["epochs"]  # epoch 1 and epoch 2 each equal across processes
    epoch_1, epoch_2 = first["epochs"]
    assert len(epoch_1) == 5 and not set(epoch_1) & set(epoch_2)  # the epochs differ
    assert not set(epoch_1) & set(first["other_seed"])  # another seed, other augmentations

    def images_only(hashes):
        return {h[:40] for h in hashes}

    assert not images_only(epoch_1) & images_only(first["plain"])  # really augmented
