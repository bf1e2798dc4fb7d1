"""Training step rate with the base unfrozen: JPEG files through `image_dataset` vs memory.

Data: real Fashion-MNIST training images (the first `--images`, default 320, from the subset in
`data/`), written once as JPEG files (quality 95) into class folders, upscaled to 224x224 so
that decoding costs what photo datasets cost (`--jpeg-size 28` keeps the native size). The
"memory" source holds exactly the pixels the file pipeline decodes (read back from it once), as
NumPy arrays through `image_dataset(images=...)`. Model: EfficientNet-Lite0 (ImageNet weights),
`unfreeze` of the whole base (BatchNorm stays in inference mode), batch 32, Adam 1e-4,
`tl_suite.fit` (no feature caching: the base trains).

Each source trains `--epochs` epochs (default 2), alternately, `--rounds` times (default 2),
after one warm-up epoch that traces the training step. Epoch 1 of a source decodes the files
(the dataset caches decoded images in memory), later epochs read the cache. Prints steps/s per
source and epoch and the ratio files / memory (goal >= 0.95).

Run: `.venv/bin/python benchmarks/pipeline_throughput.py`.
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import tl_suite  # noqa: E402
from _common import EpochTimer  # noqa: E402


def write_jpegs(images, labels, names, directory, size):
    for index, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(directory, names[int(label)].replace("/", "_"))
        os.makedirs(folder, exist_ok=True)
        picture = Image.fromarray(image).convert("RGB")
        if size != picture.size[0]:
            picture = picture.resize((size, size), Image.BICUBIC)
        picture.save(os.path.join(folder, f"{index:05d}.jpg"), quality=95)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--jpeg-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()
    images, labels, names = tl_suite.load_fashion_mnist("train", limit=args.images)
    with tempfile.TemporaryDirectory() as root:
        directory = os.path.join(root, "images")
        write_jpegs(images, labels, names, directory, args.jpeg_size)

        def from_files():
            return tl_suite.image_dataset(directory=directory, seed=args.seed, verbose=False)

        decoded = [(x.numpy(), y.numpy()) for x, y in
                   tl_suite.image_dataset(directory=directory, shuffle=False, verbose=False)]
        memory_images = np.concatenate([x for x, _ in decoded])
        memory_labels = np.concatenate([y for _, y in decoded])

        def from_memory():
            return tl_suite.image_dataset(images=memory_images, labels=memory_labels,
                                          seed=args.seed, verbose=False)

        print(f"Fashion-MNIST: {len(memory_images)} training images as {args.jpeg_size}x"
              f"{args.jpeg_size} JPEG files vs the same decoded pixels in memory "
              f"({memory_images.shape[1]}x{memory_images.shape[2]} after decoding); "
              f"EfficientNet-Lite0 fully unfrozen, batch 32, seed {args.seed}; "
              f"{os.cpu_count()} CPU cores")
        model = tl_suite.build_image_classifier("efficientnet_lite0", num_classes=len(names),
                                                seed=args.seed)
        tl_suite.unfreeze(model, learning_rate=1e-4)
        common = dict(log_dir=os.path.join(root, "logs"), early_stopping_patience=None,
                      checkpoint=False, backup=False, verbose=0)
        tl_suite.fit(model, from_memory().take(3), epochs=1, **common)  # trace the step once
        rates = {"files": [], "memory": []}
        for _ in range(args.rounds):
            for source, make in (("files", from_files), ("memory", from_memory)):
                timer = EpochTimer()
                tl_suite.fit(model, make(), epochs=args.epochs, callbacks=[timer], **common)
                rates[source].append([steps / seconds for steps, seconds in zip(timer.steps, timer.seconds)])
                shown = ", ".join(f"epoch {i + 1}: {r:.3f}" for i, r in enumerate(rates[source][-1]))
                print(f"  {source:6s} steps/s  {shown}", flush=True)
    for epoch in range(args.epochs):
        files = np.median([r[epoch] for r in rates["files"]])
        memory = np.median([r[epoch] for r in rates["memory"]])
        what = "decoding files" if epoch == 0 else "decoded images cached"
        print(f"epoch {epoch + 1} ({what}): files {files:.3f} steps/s, memory {memory:.3f} "
              f"steps/s, ratio {files / memory:.3f} (goal >= 0.95)")
    files = np.median([np.mean(r) for r in rates["files"]])
    memory = np.median([np.mean(r) for r in rates["memory"]])
    print(f"all epochs: files / memory = {files / memory:.3f} "
          f"({files * 32:.1f} vs {memory * 32:.1f} images/s)")


if __name__ == "__main__":
    main()
