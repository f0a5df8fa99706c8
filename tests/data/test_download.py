"""trainlab download, against a web server on loopback that holds small files in the published layouts."""
import functools
import hashlib
import http.server
import io
import tarfile
import threading

import numpy as np
import pytest

from trainlab.core.errors import DataError
from trainlab.data import download as dl
from trainlab.data.prepare import load_raw
from tests.data.test_sources import write_cifar_folder


@pytest.fixture
def server(tmp_path):
    """(base URL, folder it serves)."""
    root = tmp_path / "www"
    root.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def _publish(root, name, data: bytes, monkeypatch, source="cifar10"):
    (root / name).write_bytes(data)
    what, dataset, _ = dl.SOURCES[source]
    monkeypatch.setitem(dl.SOURCES, source, (what, dataset, [(f"https://example.org/{name}",
                                                               hashlib.md5(data).hexdigest())]))


def _cifar_archive(tmp_path) -> bytes:
    folder = write_cifar_folder(tmp_path / "src" / "cifar-10-batches-py", n=10)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return buf.getvalue()


def test_download_checks_md5_unpacks_and_the_recipe_reads_it(server, tmp_path, monkeypatch):
    base, root = server
    _publish(root, "cifar-10-python.tar.gz", _cifar_archive(tmp_path), monkeypatch)
    out = dl.download("cifar10", tmp_path / "data", mirror=base)
    assert out["recipe"] == f"--set data.name=cifar10 --set data.path={tmp_path / 'data'}"
    raw = load_raw("cifar10", {"path": out["path"]})
    assert len(raw.x) == 50 and len(raw.x_test) == 10
    (root / "cifar-10-python.tar.gz").unlink()  # a second run keeps the verified file: no request
    assert dl.download("cifar10", tmp_path / "data", mirror=base)["files"] == out["files"]


def test_a_damaged_or_unreachable_file_is_an_error_that_keeps_nothing(server, tmp_path, monkeypatch):
    base, root = server
    _publish(root, "cifar-10-python.tar.gz", b"not the dataset", monkeypatch)
    monkeypatch.setitem(dl.SOURCES, "cifar10", (*dl.SOURCES["cifar10"][:2], [
        ("https://example.org/cifar-10-python.tar.gz", "0" * 32)]))
    with pytest.raises(DataError, match="not the published 0000"):
        dl.download("cifar10", tmp_path / "data", mirror=base)
    assert not list((tmp_path / "data").iterdir())
    with pytest.raises(DataError, match="may have no network"):
        dl.download("cifar10", tmp_path / "data", mirror="http://127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(DataError, match="trainlab downloads mnist, cifar10, imdb"):
        dl.download("cifar100", tmp_path / "data")


def test_an_archive_that_would_unpack_outside_its_folder_is_refused(server, tmp_path, monkeypatch):
    base, root = server
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    _publish(root, "cifar-10-python.tar.gz", buf.getvalue(), monkeypatch)
    with pytest.raises(DataError, match="would unpack outside"):
        dl.download("cifar10", tmp_path / "data", mirror=base)
    assert not (tmp_path / "escaped.txt").exists()


def test_mnist_files_arrive_as_the_mnist_folder_reads_them(server, tmp_path, monkeypatch):
    from tests.conftest import write_mnist_folder

    base, root = server
    src = write_mnist_folder(tmp_path / "src", n_train=30, n_test=10)  # gzip files, as published
    files = []
    for f in sorted(src.iterdir()):
        (root / f.name).write_bytes(f.read_bytes())
        files.append((f"https://example.org/{f.name}", hashlib.md5(f.read_bytes()).hexdigest()))
    monkeypatch.setitem(dl.SOURCES, "mnist", (*dl.SOURCES["mnist"][:2], files))
    out = dl.download("mnist", tmp_path / "mnist", mirror=base)
    raw = load_raw("mnist_folder", {"path": out["path"]})
    assert len(raw.x) == 30 and len(raw.x_test) == 10 and np.array_equal(raw.x, load_raw(
        "mnist_folder", {"path": str(src)}).x)
