"""Robustness: what tl_suite does when things go wrong, case by case (issue 13).

Every case provokes one failure a careful user meets and checks what tl_suite promises:

- real ``kill -9`` at seeded random moments of a fit (cached-feature and plain paths): every
  rerun of the same command resumes, the finished run equals an uninterrupted one (head
  weights, ``rtol=1e-5``), the CSV has each epoch once, ``best.keras`` is the CSV's best epoch,
  nothing torn is left;
- a full disk (a real 3 MiB tmpfs when running as root; an injected ``ENOSPC`` otherwise),
  a corrupt backup, a second fit of the same run, another configuration in the same log_dir,
  a NaN loss, an infinite learning rate;
- crafted PyTorch ``.pth`` files (code in each of the five pickles, a tensor past its storage,
  a 12 GiB claim in a tiny file) and crafted LoRA adapter files;
- bad data: corrupt, truncated and empty image files, text that is not UTF-8, a binary file in
  a text folder, a CSV row without text, a typo label, a malformed CoNLL line, NaN targets and
  pixels.

It prints a markdown table ``case | expected | observed | held`` and exits with status 1 when
any row is not held. The kill loops and the tiny model are those of `tests/test_reliability.py`
(its worker process is reused), so the test and this table measure the same thing.

Run: `.venv/bin/python benchmarks/robustness.py [--kills 10] [--quick]` (``--quick``: the
fast cases and one kill during the training of the cached path, about a minute).
"""

import argparse
import contextlib
import errno
import importlib.util
import io
import json
import os
import pathlib
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def _load_reliability():
    spec = importlib.util.spec_from_file_location("test_reliability", ROOT / "tests" / "test_reliability.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reliability = _load_reliability()
FIGURES = {}


def _short(text, width=90):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 3] + "..."


def _raised(call):
    """The exception ``call()`` raises (None when it returns)."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - any error is an observation here
        return error
    return None


# ---- training: kills, disks, locks, NaN -------------------------------------------------------

def kill_loop(path, kills, workspace, during_training=False):
    """``kills`` real kill -9s of the worker on ``path``; the finished run is checked. Kills
    land at random moments from late in start-up to the second epoch (`kill_delays`), or with
    ``during_training`` between the end of the first and of the last epoch."""
    reference = workspace / f"{path}-reference.npz"
    _, output = reliability.run_worker(workspace / f"{path}-reference", path, reference)
    ready = float(output.split("ready at ")[1].split(" s")[0])
    ends = [float(value) - ready for value in re.findall(r"epoch \d+ ended at ([\d.]+) s", output)]
    delays = (ends[0], ends[-1]) if during_training else reliability.kill_delays(output)
    _, validation = reliability.tiny_splits(shuffle=path == "cached")
    rng = np.random.default_rng(13 if path == "cached" else 31)
    done, cycles, restored, started = 0, 0, [], time.monotonic()
    while done < kills:
        cycles += 1
        log_dir, out = workspace / f"{path}-killed-{cycles}", workspace / f"{path}-killed-{cycles}.npz"
        count, outputs = reliability.kill_until_finished(log_dir, path, out, rng, delays,
                                                         kills - done)
        done += count
        restored += [int(text.split("Restored the backup of epoch ")[1].split()[0])
                     for text in outputs if "Restored the backup of epoch " in text]
        run = reliability.check_finished_run(log_dir, out, reference, validation)
        rows = reliability.csv_rows(run / "training_log.csv")
        best = min(float(row["val_loss"]) for row in rows)
    FIGURES[f"kills survived ({path})"] = done
    FIGURES[f"resumes from a backup ({path})"] = len(restored)
    FIGURES[f"kill loop wall time ({path})"] = f"{time.monotonic() - started:.0f} s"
    return (f"{done} kills survived in {cycles} run(s); {len(restored)} resumes from backups of "
            f"epochs {sorted(set(restored))}; weights = uninterrupted run; best.keras "
            f"val_loss {best:.4f} = CSV min"), True


def full_disk_for_real(workspace):
    """A real 3 MiB tmpfs filled up under an interrupted run; then freed, the run resumes."""
    if os.geteuid() != 0:
        return "not root: skipped (the injected ENOSPC case covers it)", True
    disk = workspace / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        return "cannot mount a tmpfs here: skipped", True
    try:
        return _full_disk_on(disk)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _full_disk_on(disk):
    import tl_suite

    train, validation, run = reliability._interrupted_run(disk / "logs")
    before = reliability._snapshot(run)
    filler = reliability.fill_disk(disk)
    error = _raised(lambda: tl_suite.fit(reliability.tiny_model(), train, validation,
                                         log_dir=str(disk / "logs"), verbose=0,
                                         **reliability.fit_arguments(True)))
    intact = reliability._snapshot(run) == before and not reliability.leftovers(run)
    filler.unlink()
    history = tl_suite.fit(reliability.tiny_model(), train, validation, log_dir=str(disk / "logs"),
                           verbose=0, **reliability.fit_arguments(True))
    clear = isinstance(error, tl_suite.DiskFullError)
    observed = (f"{type(error).__name__}: {_short(error, 60)}; previous files "
                f"{'intact' if intact else 'CHANGED'}; freed -> resumed epochs {history.epoch}")
    return observed, clear and intact and history.epoch == [3, 4]


def full_disk_injected(workspace):
    """``OSError(ENOSPC)`` from every Keras save during a resumed run."""
    import keras

    import tl_suite

    train, validation, run = reliability._interrupted_run(workspace / "enospc")
    before = {k: v for k, v in reliability._snapshot(run).items() if k != "training_log.csv"}

    def full(self, filepath, *args, **kwargs):
        open(filepath, "wb").write(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    saved = keras.Model.save_weights, keras.Model.save
    keras.Model.save_weights = keras.Model.save = full
    try:
        error = _raised(lambda: tl_suite.fit(reliability.tiny_model(), train, validation,
                                             log_dir=str(workspace / "enospc"), verbose=0,
                                             **reliability.fit_arguments(True)))
    finally:
        keras.Model.save_weights, keras.Model.save = saved
    after = {k: v for k, v in reliability._snapshot(run).items() if k != "training_log.csv"}
    intact = after == before and not reliability.leftovers(run)
    return (f"{type(error).__name__}: {_short(error, 60)}; backup and best.keras "
            f"{'intact' if intact else 'CHANGED'}"), isinstance(error, tl_suite.DiskFullError) and intact


def corrupt_backup(workspace):
    """The newest backup's weights torn (as by a crash mid-write on a disk without atomic
    rename): the run resumes from the previous backup."""
    import tl_suite

    train, validation, run = reliability._interrupted_run(workspace / "corrupt")
    state = json.loads((run / "backup" / "state.json").read_text())
    weights = run / "backup" / state["weights"]
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        history = tl_suite.fit(reliability.tiny_model(), train, validation, log_dir=str(run.parent),
                               verbose=1, **reliability.fit_arguments(True))
    rows = reliability.csv_rows(run / "training_log.csv")
    epochs = [int(row["epoch"]) for row in rows]
    fell_back = "trying the previous one" in printed.getvalue()
    return (f"torn {state['weights']}: {'fell back to the previous backup' if fell_back else 'no fallback'}"
            f", resumed at epoch {history.epoch[0]}; CSV epochs {epochs}"), (
        fell_back and history.epoch[0] == state["epoch"] - 1 and epochs == list(range(reliability.EPOCHS)))


def concurrent_fit(workspace):
    """A second fit of a run another process is training."""
    import tl_suite

    log = workspace / "concurrent.out"
    with open(log, "w") as output:
        process = subprocess.Popen(reliability.worker_command(workspace / "concurrent", "cached",
                                                              workspace / "c.npz", 40),
                                   stdout=output, stderr=subprocess.STDOUT,
                                   env=reliability._environment())
    try:
        deadline = time.monotonic() + 120
        while "epoch 0 ended" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        train, validation = reliability.tiny_splits(shuffle=True)
        error = _raised(lambda: tl_suite.fit(reliability.tiny_model(), train, validation,
                                             log_dir=str(workspace / "concurrent"), verbose=0,
                                             **reliability.fit_arguments(True, 40)))
    finally:
        process.kill()
        process.wait()
    return f"{type(error).__name__}: {_short(error, 70)}", isinstance(error, tl_suite.RunLockedError)


def other_configuration(workspace):
    """A run killed at lr 0.05, then a fit at lr 0.3 in the same log_dir."""
    import tl_suite

    _, _, run = reliability._interrupted_run(workspace / "other")
    train, validation = reliability.tiny_splits(shuffle=True)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        history = tl_suite.fit(reliability.tiny_model(learning_rate=0.3), train, validation,
                               log_dir=str(run.parent), verbose=1, **reliability.fit_arguments(True, 2))
    left = "Left unfinished run" in printed.getvalue() and "0.05 -> 0.3" in printed.getvalue()
    name = os.path.basename(history.run_dir)
    return (f"new run {name} from epoch {history.epoch[0]}; old run "
            f"{'named and left alone' if left else 'NOT reported'}"), name == "run-002" and left


def nan_mid_run(workspace):
    """The learning rate becomes inf at epoch 3 (the loss goes NaN)."""
    import tl_suite

    train, validation = reliability.tiny_splits(shuffle=True)
    model = reliability.tiny_model()
    error = _raised(lambda: tl_suite.fit(model, train, validation, log_dir=str(workspace / "nan"),
                                         verbose=0, callbacks=[reliability._RateAt(2, float("inf"))],
                                         **reliability.fit_arguments(True)))
    run = workspace / "nan" / "run-001"
    finite = [float(r["val_loss"]) for r in reliability.csv_rows(run / "training_log.csv")
              if np.isfinite(float(r["val_loss"]))]
    loss = reliability.best_model_loss(run / "best.keras", validation)
    same = abs(loss - min(finite)) <= 1e-4 * abs(min(finite))
    return (f"{type(error).__name__} ({_short(error, 45)}); best.keras finite, val_loss "
            f"{loss:.4f} {'=' if same else '!='} best finite epoch"), (
        isinstance(error, tl_suite.NonFiniteLossError) and same
        and all(np.isfinite(w).all() for w in model.get_weights()))


def infinite_learning_rate(workspace):
    import keras

    import tl_suite

    train, _ = reliability.tiny_splits(shuffle=True)
    model = reliability.tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(float("inf")), loss="sparse_categorical_crossentropy")
    error = _raised(lambda: tl_suite.fit(model, train, epochs=1, log_dir=str(workspace / "inf"), verbose=0))
    return (f"{type(error).__name__}: {_short(error, 60)}; nothing written: "
            f"{not (workspace / 'inf').exists()}"), isinstance(error, ValueError) and "inf" in str(error)


# ---- crafted files -----------------------------------------------------------------------------

def crafted_pth(workspace):
    from tests.backbones.test_torch_reader import _CreatesFile, _write_pth
    from tl_suite.backbones import torch_reader

    marker, refused = workspace / "owned", []
    for position in range(5):
        payload = pickle.dumps({"w": _CreatesFile(marker)} if position == 3 else _CreatesFile(marker),
                               protocol=2)
        path = _write_pth(workspace / f"evil{position}.pth", replace={position: payload})
        refused.append(isinstance(_raised(lambda: torch_reader.read_torch_state_dict(path)),
                                  pickle.UnpicklingError))
    return (f"{sum(refused)}/5 refused (UnpicklingError), code ran: {marker.exists()}"), (
        all(refused) and not marker.exists())


def oversized_tensor(workspace):
    from tests.backbones.test_torch_reader import _write_pth
    from tl_suite.backbones import torch_reader

    path = _write_pth(workspace / "oversized.pth", size=(3, 3), stride=(3, 1))
    error = _raised(lambda: torch_reader.read_torch_state_dict(path))
    return f"{type(error).__name__}: {_short(error, 70)}", isinstance(error, ValueError)


def huge_allocation(workspace):
    import tracemalloc

    from tests.backbones.test_torch_reader import _write_pth
    from tl_suite.backbones import torch_reader

    path = _write_pth(workspace / "huge.pth", values=np.zeros(0, "<f4"), count=3 << 30)
    tracemalloc.start()
    started = time.perf_counter()
    error = _raised(lambda: torch_reader.read_torch_state_dict(path))
    peak, seconds = tracemalloc.get_traced_memory()[1], time.perf_counter() - started
    tracemalloc.stop()
    return (f"{path.stat().st_size}-byte file claiming 12 GiB: {type(error).__name__} in "
            f"{seconds * 1000:.0f} ms, peak {peak / 2**20:.1f} MiB"), (
        isinstance(error, ValueError) and peak < 5e6)


def crafted_adapters(workspace):
    import h5py

    import tl_suite
    from tests.fine_tuning.conftest import VOCABULARY
    from tests.fine_tuning.test_lora import _random_adapter, _weight_bytes
    from tl_suite.backbones.text import tiny_bert_spec

    spec = tiny_bert_spec(VOCABULARY)
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2)
    _, three = _random_adapter(workspace, spec, 3, "three")
    _, deeper = _random_adapter(workspace, spec, 2, "deeper")
    nan = workspace / "nan.lora.h5"
    nan.write_bytes(deeper.read_bytes())
    with h5py.File(nan, "a") as store:
        entry = sorted(name for name in store["lora"] if name != "vars")[-1]
        store[f"lora/{entry}/vars/lora_kernel_b"][...] = np.nan
    swapped = VOCABULARY[:5] + [VOCABULARY[6], VOCABULARY[5]] + VOCABULARY[7:]
    shallow = tl_suite.build_text_classifier(tiny_bert_spec(VOCABULARY, num_layers=1), num_classes=2,
                                             weights=None, lora_rank=2)
    other = tl_suite.build_text_classifier(tiny_bert_spec(swapped), num_classes=2, weights=None,
                                           lora_rank=2)
    refused = 0
    for target, path in ((model, three), (shallow, deeper), (model, nan), (other, deeper)):
        before = _weight_bytes(target)
        refused += isinstance(_raised(lambda: tl_suite.load_adapter(target, path)), ValueError) and (
            _weight_bytes(target) == before)
    return (f"{refused}/4 refused with every weight unchanged (3-class head, 2-layer into 1-layer, "
            "NaN kernel, other vocabulary)"), refused == 4


# ---- bad data ----------------------------------------------------------------------------------

def _report(dataset):
    from tl_suite.data.info import dataset_info

    return dataset_info(dataset).report


def _entry(entries, name):
    found = [why for where, why in entries if where.endswith(name)]
    return found[0] if found else None


def _image_folder(workspace):
    from PIL import Image

    folder = workspace / "images"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        for index in range(4):
            Image.fromarray(np.full((16, 16, 3), 40 * index, "uint8")).save(folder / name / f"{index}.png")
    (folder / "a" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype("uint8")).save(jpeg, "JPEG")
    (folder / "a" / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (folder / "b" / "empty.png").write_bytes(b"")
    return folder


def bad_images(workspace):
    """Three rows: corrupt, truncated and empty image files in a class folder."""
    import tl_suite

    report = _report(tl_suite.image_dataset(directory=_image_folder(workspace), batch_size=4,
                                            verbose=False))
    rows = []
    for case, name in (("corrupt image file", "corrupt.png"), ("truncated image", "truncated.jpg"),
                       ("empty image file", "empty.png")):
        why = _entry(report.skipped, name)
        rows.append((case, "skipped and listed; training goes on",
                     f"skipped: {name}: {_short(why, 60)}; {report.used} used" if why else
                     f"not listed; {report.used} used", why is not None and report.used == 8))
    return rows


def _text_folder(workspace):
    folder = workspace / "texts"
    for name in ("pos", "neg"):
        (folder / name).mkdir(parents=True)
        for index in range(4):
            (folder / name / f"{index}.txt").write_text(f"a {name} text number {index}")
    (folder / "pos" / "latin.txt").write_bytes("caf\xe9 tr\xe8s bon".encode("latin-1"))
    (folder / "neg" / "binary.txt").write_bytes(bytes(range(256)) * 4)
    return folder


def bad_texts(workspace):
    """Non-UTF-8 text (strict: skipped; replace: kept and named) and a binary file."""
    import tl_suite

    folder = _text_folder(workspace)
    strict = _report(tl_suite.text_dataset(directory=folder, batch_size=4, verbose=False))
    replaced = _report(tl_suite.text_dataset(directory=folder, batch_size=4, verbose=False,
                                             encoding_errors="replace"))
    skipped, flagged = _entry(strict.skipped, "latin.txt"), _entry(replaced.flagged, "latin.txt")
    binary = _entry(strict.skipped, "binary.txt")
    binary_replaced = _entry(replaced.skipped, "binary.txt")
    return [
        ("non-UTF-8 text file", "skipped and named (strict); with encoding_errors='replace' kept "
         "and named", f"strict: {_short(skipped, 45)}; replace: named in report.flagged: "
         f"{flagged is not None}", skipped is not None and flagged is not None),
        ("binary file in a text folder", "skipped and listed, never trained on",
         f"skipped: {_short(binary, 40)} (also with 'replace': {binary_replaced is not None})",
         binary is not None and binary_replaced is not None),
    ]


def bad_csv(workspace):
    """A CSV row without text and a typo label ('pso' once, 'pos'/'neg' 30 times each)."""
    import tl_suite

    path = workspace / "reviews.csv"
    rows = "".join(f"good {i},pos\nbad {i},neg\n" for i in range(30))
    path.write_text("text,label\n" + rows + ",pos\nfine film,pso\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = _report(tl_suite.text_dataset(path=str(path), batch_size=8, verbose=False))
    missing = _entry(report.skipped, "reviews.csv:62")
    typo = [why for where, why in report.flagged if "pso" in why]
    warned = any("pso" in str(w.message) for w in caught)
    return [
        ("CSV row with missing text", "skipped and listed (file:row)",
         f"skipped: reviews.csv:62: {_short(missing, 45)}" if missing else "not listed",
         missing is not None),
        ("typo label in a CSV", "reported as a likely typo (report + warning), naming the close name",
         f"flagged: {_short(typo[0], 60)}; warned: {warned}" if typo else
         f"not flagged; classes {report.class_names}", bool(typo) and "pos" in typo[0] and warned),
    ]


def bad_conll(workspace):
    import tl_suite

    path = workspace / "tags.conll"
    path.write_text("EU\tB-ORG\nrejects\tO\n\nbroken\n\nPeter\tB-PER\nruns\tO\n\nAnna\tB-PER\n")
    report = _report(tl_suite.token_dataset(path=str(path), batch_size=2, verbose=False))
    why = _entry(report.skipped, "tags.conll:4")
    return [("malformed CoNLL line", "skipped and listed, its sentence dropped, the file read on",
             f"skipped: tags.conll:4: {_short(why, 45)}; {report.used} sentences used" if why
             else "not listed", why is not None and report.used == 3)]


def non_finite_data(workspace):
    import tl_suite

    targets = np.array([0.1, np.nan, 0.3, 0.4], "float32")
    array_error = _raised(lambda: tl_suite.image_dataset(images=np.zeros((4, 8, 8), "uint8"),
                                                         labels=targets, verbose=False))
    path = workspace / "targets.csv"
    path.write_text("text,label\na,0.5\nb,nan\nc,inf\nd,0.1\n")
    report = _report(tl_suite.text_dataset(path=str(path), label_mode="float", batch_size=2,
                                           verbose=False))
    pixels = np.zeros((2, 8, 8), "float32")
    pixels[1, 2, 3] = np.inf
    pixel_error = _raised(lambda: tl_suite.image_dataset(images=pixels, labels=[0, 1], verbose=False))
    listed = [where for where, _ in report.skipped]
    return [
        ("NaN target", "array: ValueError naming the index; CSV: rows skipped and listed",
         f"array: {type(array_error).__name__} ({'labels[1]' in str(array_error)}); CSV skipped "
         f"{[w.rsplit('/', 1)[-1] for w in listed]}",
         isinstance(array_error, ValueError) and "labels[1]" in str(array_error) and len(listed) == 2),
        ("NaN/inf pixels", "ValueError naming the image", f"{type(pixel_error).__name__}: "
         f"{_short(pixel_error, 50)}", isinstance(pixel_error, ValueError) and "images[1]" in str(pixel_error)),
    ]


# ---- the table ----------------------------------------------------------------------------------

def _cases(args):
    """(case, expected, function) rows; a function returns (observed, held) or a list of rows."""
    paths = ["cached"] if args.quick else ["cached", "plain"]
    kills = 1 if args.quick else args.kills
    cases = [(f"kill -9 at random moments ({path} path)",
              "every rerun resumes; weights = uninterrupted run; CSV epochs once; best.keras = "
              "CSV's best; nothing torn", lambda w, p=path: kill_loop(p, kills, w, args.quick))
             for path in paths]
    cases += [
        ("full disk (injected ENOSPC)", "DiskFullError; backup and best.keras intact", full_disk_injected),
        ("NaN loss mid-run", "NonFiniteLossError; best.keras = best finite epoch", nan_mid_run),
        ("infinite learning rate", "ValueError before training", infinite_learning_rate),
        ("crafted .pth: code in each pickle", "refused, no code run", crafted_pth),
        ("crafted .pth: tensor past its storage", "refused", oversized_tensor),
        ("crafted .pth: huge allocation", "refused without allocating", huge_allocation),
        ("crafted LoRA adapter files", "refused, nothing assigned", crafted_adapters),
        (None, None, bad_images), (None, None, bad_texts), (None, None, bad_csv),
        (None, None, bad_conll), (None, None, non_finite_data),
    ]
    if not args.quick:
        cases[len(paths):len(paths)] = [
            ("full disk (real tmpfs)", "DiskFullError; previous files intact; resumes once freed",
             full_disk_for_real),
            ("corrupt newest backup", "falls back to the previous backup, resumes", corrupt_backup),
            ("second concurrent fit of a run", "RunLockedError", concurrent_fit),
            ("other configuration in the log_dir", "new run folder; old run named, left alone",
             other_configuration),
        ]
    return cases


def _run_case(case, expected, function, workspace):
    folder = pathlib.Path(tempfile.mkdtemp(dir=workspace))
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = function(folder)
    except Exception as error:  # noqa: BLE001 - a failing case is a row not held
        traceback.print_exc(file=sys.stderr)
        result = (f"{type(error).__name__}: {_short(error, 80)}", False)
    if isinstance(result, list):
        return result
    return [(case, expected, *result)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="kill -9s per training path")
    parser.add_argument("--quick", action="store_true", help="fast subset (1 kill, cached path)")
    args = parser.parse_args()
    started = time.monotonic()
    workspace = pathlib.Path(tempfile.mkdtemp(prefix="tl_suite_robustness_"))
    rows = []
    try:
        for case, expected, function in _cases(args):
            rows += _run_case(case, expected, function, workspace)
            print(f"  done: {rows[-1][0]} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    print("| case | expected | observed | held |")
    print("|---|---|---|---|")
    for case, expected, observed, held in rows:
        print(f"| {case} | {expected} | {observed.replace('|', '/')} | {'held' if held else 'NOT HELD'} |")
    held = sum(row[3] for row in rows)
    print()
    for name, value in FIGURES.items():
        print(f"{name}: {value}")
    print(f"cases held: {held}/{len(rows)} in {time.monotonic() - started:.0f} s")
    sys.exit(0 if held == len(rows) else 1)


if __name__ == "__main__":
    main()
