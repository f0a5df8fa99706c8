"""An explicit download, for users whose machine has a network: the published files of MNIST,
CIFAR-10 and IMDB into a folder the user names, each checked against its published MD5 before it is
kept (and archives unpacked). Nothing else in trainlab downloads anything: a recipe reads the folder."""
from __future__ import annotations

import hashlib
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from ..core.errors import DataError
from ..core.files import digest

# name → (what it is, the recipe's data.name that reads the folder, [(url, published MD5)])
SOURCES = {
    "mnist": ("MNIST handwritten digits (IDX files, gzip)", "mnist_folder", [
        ("https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]),
    "cifar10": ("CIFAR-10, python version", "cifar10", [
        ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
    ]),
    "imdb": ("IMDB movie reviews (Maas et al. 2011)", "imdb", [
        ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz", "7c2ac02c03563afcf9b574c7e56c153a"),
    ]),
}


def download(name: str, dest: str | Path, mirror: str | None = None, progress=None) -> dict:
    """Fetch dataset `name` into `dest` (files already there with the right MD5 are kept); a mirror
    replaces each URL's folder. Returns {"path", "recipe": the --set arguments that read it, "files"}."""
    if name not in SOURCES:
        raise DataError(f"No download for {name!r}; trainlab downloads {', '.join(SOURCES)}. For S-BSST265, "
                        "unzip the dataset from its BioStudies page and set data.path to the folder.")
    _, dataset, files = SOURCES[name]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    kept = []
    for url, md5 in files:
        if mirror:
            url = mirror.rstrip("/") + "/" + url.rsplit("/", 1)[1]
        target = dest / url.rsplit("/", 1)[1]
        if not (target.is_file() and digest(target, "md5") == md5):
            _fetch(url, target, md5, progress)
        done = target.with_name(target.name + ".unpacked")  # holds the MD5 of the archive it unpacked
        if target.name.endswith(".tar.gz") and not (done.is_file() and done.read_text() == md5):
            _unpack(target, dest)
            done.write_text(md5)
        kept.append(str(target))
    return {"path": str(dest), "recipe": f"--set data.name={dataset} --set data.path={dest}", "files": kept}


def _fetch(url: str, target: Path, md5: str, progress) -> None:
    """Stream `url` into target.part, check its MD5, then rename: a cut or a wrong file never stays."""
    part = target.with_name(target.name + ".part")
    h = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0)
            done = 0
            for block in iter(lambda: r.read(1 << 20), b""):
                f.write(block)
                h.update(block)
                done += len(block)
                if progress:
                    progress(target.name, done, total)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        part.unlink(missing_ok=True)
        raise DataError(f"Cannot download {url}: {getattr(err, 'reason', err)}. This machine may have no network: "
                        "download the file elsewhere and copy it into the folder, then run the same command "
                        "(it keeps files whose MD5 is right).") from None
    if h.hexdigest() != md5:
        part.unlink()
        raise DataError(f"{url} arrived with MD5 {h.hexdigest()}, not the published {md5}: the file is damaged "
                        "or not the dataset. Nothing was kept; try again or another mirror.")
    part.replace(target)


def _unpack(archive: Path, dest: Path) -> None:
    """Unpack a .tar.gz into dest, refusing members that would land outside it."""
    root = dest.resolve()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for m in members:
                if not (root / m.name).resolve().is_relative_to(root) or m.issym() or m.islnk():
                    raise DataError(f"{archive.name} holds {m.name!r}, which would unpack outside {str(dest)!r} "
                                    "or is a link; it was not unpacked.")
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python ≥ 3.12 checks again
            tar.extractall(dest, members=members, **safe)
    except (tarfile.TarError, OSError) as err:
        raise DataError(f"Cannot unpack {str(archive)!r}: {err}.") from None
