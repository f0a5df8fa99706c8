"""The service over real HTTP: a server in a subprocess on a free loopback port, good and bad
requests, every answer checked, then stopped."""
import http.client
import io
import json
import socket
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
from PIL import Image

from tests.conftest import class_image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(image_run):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "trainlab.cli.main", "serve", str(image_run.path), "--port", str(port),
                             "--max-body-mb", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if request(port, "GET", "/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError(proc.communicate()[1].decode())
    yield port
    proc.terminate()
    proc.wait(timeout=20)
    assert proc.returncode is not None


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    try:
        return r.status, json.loads(data)
    except json.JSONDecodeError:
        return r.status, data


def post_json(port, obj):
    return request(port, "POST", "/predict", json.dumps(obj).encode(), {"Content-Type": "application/json"})


def post_file(port, name, data):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return request(port, "POST", "/predict", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def png(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_health_metadata_and_docs(server):
    assert request(server, "GET", "/health") == (200, {"status": "ok", "run": request(server, "GET", "/health")[1]["run"]})
    status, meta = request(server, "GET", "/metadata")
    assert status == 200 and meta["input_shape"] == [1, 28, 28] and len(meta["classes"]) == 10
    status, spec = request(server, "GET", "/openapi.json")
    assert status == 200 and "/predict" in spec["paths"]
    assert request(server, "GET", "/docs")[0] == 200


def test_good_requests(server, image_run):
    rng = np.random.default_rng(11)
    imgs = np.stack([class_image(c, rng) for c in (3, 7)])
    status, out = post_json(server, {"inputs": imgs.tolist()})
    assert status == 200 and out["predicted"] == ["3", "7"]
    assert np.allclose(out["probabilities"], image_run.predict(imgs)["probabilities"], atol=1e-5)
    status, out = post_json(server, {"inputs": [imgs[0][None].tolist()]})  # (N, C, H, W)
    assert status == 200 and out["predicted"] == ["3"]
    status, out = post_file(server, "x.png", png(imgs[1]))
    assert status == 200 and out["predicted"] == ["7"]
    buf = io.BytesIO()
    np.save(buf, imgs[0])
    assert post_file(server, "x.npy", buf.getvalue())[1]["predicted"] == ["3"]


NASTY_JSON = [
    ({"inputs": [[1, 2, 3]]}, "expected images of shape"),
    ({"inputs": []}, "at least 1"),
    ({"inputs": "abc"}, "valid array"),
    ({"inputs": [["a"] * 28] * 28}, "expected numbers"),
    ({"inputs": [[[1] * 28] * 27]}, "expected images of shape"),
    ({"inputs": [[1, [2]]]}, "rectangular"),
    ({"inputs": [[[0] * 28] * 28], "extra": 1}, "extra"),
    ({"images": []}, "inputs"),
    ([1, 2, 3], "should be an object"),
    ({"inputs": [[[1e400] * 28] * 28]}, ""),
    ({"inputs": [True]}, "expected"),
    ({"inputs": [None]}, "expected"),
    ({"inputs": [{"a": 1}]}, "expected"),
]


@pytest.mark.parametrize("body,needle", NASTY_JSON)
def test_bad_json_gets_a_4xx_that_says_why(server, body, needle):
    status, out = post_json(server, body)
    assert 400 <= status < 500, (status, out)
    assert needle.lower() in json.dumps(out).lower()


@pytest.mark.parametrize("body,ctype,expected", [
    (b"{not json", "application/json", 422),
    (b"\xff\xfe\x00", "application/json", 422),
    (b"[" * 5000 + b"]" * 5000, "application/json", 422),
    (b"inputs=1", "application/x-www-form-urlencoded", 415),
    (b"hello", "text/plain", 415),
    (b"", "", 415),
    (b"--x\r\nbroken", "multipart/form-data; boundary=x", 422),
    (b"--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x--\r\n", "multipart/form-data; boundary=x", 422),
])
def test_bad_bodies(server, body, ctype, expected):
    headers = {"Content-Type": ctype} if ctype else {}
    status, out = request(server, "POST", "/predict", body, headers)
    assert status == expected, (status, out)
    assert out["detail"]


def test_bad_files_and_size_limit(server):
    status, out = post_file(server, "x.png", b"\x89PNG not really")
    assert status == 422 and "Cannot decode image" in out["detail"]
    assert post_file(server, "x.exe", b"MZ")[0] == 422
    assert post_file(server, "x.csv", b"a,b\n1,2\n")[0] == 422
    big = json.dumps({"inputs": [[[255] * 28] * 28] * 400}).encode()  # > 1 MiB
    status, out = request(server, "POST", "/predict", big, {"Content-Type": "application/json"})
    assert status == 413 and "limit" in out["detail"]
    assert request(server, "POST", "/predict", b"{}", {"Content-Type": "application/json", "Content-Length": "x"})[0] == 400
    assert request(server, "GET", "/nothing")[0] == 404
    assert request(server, "GET", "/health")[0] == 200  # still alive after all of it
