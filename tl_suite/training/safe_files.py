"""Files that a later run reads, written so that a crash or a full disk never leaves them broken.

Every such file is written to a temporary name in its folder, flushed to disk and moved over
the old one with ``os.replace`` (atomic on POSIX): a reader sees the old file or the new one,
never half of one. When writing fails (disk full), the temporary file is removed and the old
file is left as it was.
"""

import contextlib
import errno
import json
import os
import shutil


class DiskFullError(OSError):
    """Not enough free space to write a file; the previous version of the file is intact."""


def _fsync(path):
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def check_free_space(folder, nbytes, what):
    """Raise `DiskFullError` when ``folder`` has less than ``nbytes`` (plus 1 MiB) free.

    Example:
    >>> import tempfile
    >>> check_free_space(tempfile.gettempdir(), 10, "a small file")
    >>> check_free_space(tempfile.gettempdir(), 2**70, "a huge file")
    Traceback (most recent call last):
    ...
    tl_suite.training.safe_files.DiskFullError: [Errno 28] Not enough free space in ...
    """
    free = shutil.disk_usage(folder).free
    if free < nbytes + 2**20:
        raise DiskFullError(
            errno.ENOSPC,
            f"Not enough free space in {folder} for {what}: about {nbytes / 2**20:,.1f} MiB "
            f"needed, {free / 2**20:,.1f} MiB free. Free some space or write to another "
            "disk (log_dir=...); the files written before are intact.",
        )


def write_atomically(path, write, suffix=""):
    """Call ``write(temporary_path)`` and move the result over ``path`` in one step.

    ``suffix`` ends the temporary name (Keras wants ``.keras`` / ``.weights.h5``). On failure
    the temporary file is removed, ``path`` keeps its previous content, and an out-of-space
    error becomes a `DiskFullError` that names the file.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> write_atomically(path, lambda tmp: open(tmp, "w").write("hello"))
    >>> open(path).read()
    'hello'
    """
    folder, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f".{name}.partial-{os.getpid()}{suffix}")
    try:
        write(temporary)
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(
                error.errno,
                f"The disk is full: could not write {path}. Its previous version is intact. "
                "Free some space (or use another log_dir) and run again; an interrupted fit "
                f"resumes from its backup. Received: {error}",
            ) from error
        raise
    _fsync(folder)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_partials(folder):
    """Remove the temporary files (``.<name>.partial-<pid>...``) of dead processes in
    ``folder`` (a crash in the middle of an atomic write leaves one)."""
    names = os.listdir(folder) if os.path.isdir(folder) else []
    for name in names:
        head, _, tail = name.partition(".partial-")
        pid = tail.split(".")[0]
        if name.startswith(".") and head and pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, name))


def write_json(path, data):
    """Write ``data`` as JSON to ``path`` atomically."""
    def write(temporary):
        with open(temporary, "w") as file:
            json.dump(data, file, indent=1, sort_keys=True, default=str)
    write_atomically(path, write)


def read_json(path):
    """The JSON content of ``path``; None when it is missing or unreadable (torn, corrupt)."""
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def weights_nbytes(model):
    """Bytes of all of ``model``'s weights and optimizer variables (a size estimate of a
    checkpoint or backup of it)."""
    variables = list(model.weights)
    if getattr(model, "optimizer", None) is not None:
        variables += list(model.optimizer.variables)
    total = 0
    for variable in variables:
        count = 1
        for dim in variable.shape:
            count *= int(dim or 1)
        total += count * 4
    return total
