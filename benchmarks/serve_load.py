"""Load test of `trainlab serve` on loopback: a bounded number of single-image requests over
several keep-alive connections from this (second) process. Reports throughput, p50/p99
latency, failures and the server's memory (RSS after warm-up vs at the end). One JSON line.

Usage: python benchmarks/serve_load.py [--run RUN] [--requests 20000] [--connections 32]
Without --run it trains the tp1 recipe first (about 10 s on 2 cores)."""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def worker(port: int, payload: bytes, count: int, latencies: list, statuses: list, deadline: float):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            if time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            writer.write(payload)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            statuses.append(status)
    finally:
        writer.close()


async def load(port: int, payload: bytes, total: int, connections: int, seconds: float):
    latencies, statuses = [], []
    deadline = time.perf_counter() + seconds
    per = [total // connections + (1 if i < total % connections else 0) for i in range(connections)]
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(port, payload, n, latencies, statuses, deadline) for n in per))
    return time.perf_counter() - t0, latencies, statuses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--max-seconds", type=float, default=300)
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    run_dir = args.run
    if run_dir is None:
        import trainlab

        run_dir = trainlab.run(REPO / "recipes" / "tp1-mlp.toml", ["eval.baselines=false", "report.html=false"],
                               runs_dir=tmp.name, progress=False).path
    from trainlab.data.sources import find_fashion_mnist, read_idx

    image = read_idx(find_fashion_mnist(None) / "t10k-images-idx3-ubyte.gz", 3)[0]
    body = json.dumps({"inputs": [image.tolist()]}).encode()
    payload = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "trainlab.cli.main", "serve", str(run_dir), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        asyncio.run(load(port, payload, 1000, args.connections, 60))  # warm-up
        rss_warm = rss_mib(server.pid)
        seconds, lat, statuses = asyncio.run(load(port, payload, args.requests, args.connections, args.max_seconds))
        rss_end = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    lat_ms = sorted(x * 1000 for x in lat)
    out = {
        "bench": "serve_load", "requests": len(lat), "connections": args.connections,
        "failed": sum(s != 200 for s in statuses) + (args.requests - len(lat)),
        "throughput_rps": round(len(lat) / seconds, 1),
        "p50_ms": round(statistics.median(lat_ms), 2), "p99_ms": round(lat_ms[int(0.99 * (len(lat_ms) - 1))], 2),
        "rss_after_warmup_mib": round(rss_warm, 1), "rss_end_mib": round(rss_end, 1),
        "rss_growth": round(rss_end / rss_warm - 1, 4),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
