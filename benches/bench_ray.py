"""Clean on a local Ray cluster with 1 and 2 worker processes: throughput, shuffle volume, worker memory.

    python benches/bench_ray.py --size-mb 20

Starts ``ray start --head --num-cpus=0`` on loopback, adds one 1-CPU worker node, runs the default clean
(``run_ray``), adds a second worker node and runs again; each run is checked against the single-process run on
the same corpus (same report counts, same output bytes). The corpus comes from the shared benchmark generator
when it is present (``/work/shared/bench/make_corpus.py``), otherwise from ``tunesmith.clean.corpus``.
Throughput is MB of input JSONL per second of wall time of the whole ``run_ray`` call (planning, every stage,
writing the shards). Shuffle volume is the size of the blocks fed to each shuffle, as Ray Data reports them.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SHARED_MAKER = pathlib.Path("/work/shared/bench/make_corpus.py")
COUNTS = ("read", "kept", "removed", "rejected", "removed_by_reason", "pii_by_kind", "clusters")


def make_input(size_mb: int, out_dir: pathlib.Path) -> pathlib.Path:
    path = out_dir / f"corpus{size_mb}.jsonl"
    if path.exists():
        return path
    if SHARED_MAKER.exists():
        subprocess.run([sys.executable, str(SHARED_MAKER), "--size-mb", str(size_mb), "--name", f"corpus{size_mb}",
                        "--out-dir", str(out_dir)], check=True)
        return path
    from tunesmith.clean.corpus import make_corpus

    n = max(100, int(size_mb * 1e6 / 900))
    make_corpus(n, seed=1).write(path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RssSampler(threading.Thread):
    """Peak resident memory of the Ray worker processes under the given node processes."""

    def __init__(self, roots: list[int]) -> None:
        super().__init__(daemon=True)
        self.roots, self.peak, self.stop = roots, 0, threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop.is_set():
            for pid in self.roots:
                try:
                    for child in psutil.Process(pid).children(recursive=True):
                        if "default_worker" in " ".join(child.cmdline()):
                            self.peak = max(self.peak, child.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=20)
    ap.add_argument("--chunk-mb", type=float, default=2.0, help="input byte range per task")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out-dir", default="/tmp/clean-bench")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per worker count (after one warm-up run)")
    ap.add_argument("--no-quality", action="store_true",
                    help="switch the Gopher quality filter off, so most records reach the dedup shuffles")
    args = ap.parse_args()
    # Ray's token authentication: one fresh token shared by the nodes and this driver (read once per process,
    # so set before Ray is imported).
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)

    import ray

    import tunesmith
    from tunesmith.clean import Pipeline
    from tunesmith.clean.distributed import run_ray

    config = {"gopher_quality": {"enabled": False}} if args.no_quality else None
    out_dir = pathlib.Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    src = make_input(args.size_mb, out_dir)
    size = src.stat().st_size
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-ray-"))
    print(f"corpus {src} ({size / 1e6:.1f} MB)")

    local_rates = {}
    for threads in (1, 2):
        tunesmith.set_num_threads(threads)
        t = time.perf_counter()
        local = Pipeline(config).clean_file([src], work / "local.jsonl")
        dt = time.perf_counter() - t
        local_rates[threads] = size / dt / 1e6
        print(f"  local, {threads} thread(s)               {dt:8.2f} s  {local_rates[threads]:7.2f} MB/s")
    tunesmith.set_num_threads(0)
    expected = (work / "local.jsonl").read_bytes()

    exe = shutil.which("ray") or str(pathlib.Path(sys.executable).with_name("ray"))
    port = free_port()
    address = f"127.0.0.1:{port}"
    store = f"--object-store-memory={max(300 * 2**20, 4 * size)}"
    common = ["--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats", store]
    procs = [subprocess.Popen([exe, "start", "--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false",
                               *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    rates = {}
    try:
        deadline = time.monotonic() + 120
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline:
                sys.exit("the Ray head did not come up")
            time.sleep(0.5)
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        for n in sorted(args.workers):
            while len(procs) - 1 < n:
                # One node at a time, each on its own ports (raylets on one host otherwise share default ports).
                ports = [f"{flag}={free_port()}" for flag in ("--node-manager-port", "--object-manager-port",
                         "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--metrics-export-port",
                         "--runtime-env-agent-port")]
                procs.append(subprocess.Popen([exe, "start", f"--address={address}", "--num-cpus=1", *common, *ports],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                while ray.cluster_resources().get("CPU", 0) < len(procs) - 1:
                    time.sleep(0.5)
            sampler = RssSampler([p.pid for p in procs])
            sampler.start()
            times = []
            for attempt in range(args.repeats + 1):
                out = work / f"ray{n}"
                t = time.perf_counter()
                result = run_ray([src], out, config, chunk_bytes=int(args.chunk_mb * 1e6), partitions=max(2, n))
                if attempt:  # the first run warms the worker processes up
                    times.append(time.perf_counter() - t)
            sampler.stop.set()
            sampler.join()
            dt = statistics.median(times)
            rates[n] = size / dt / 1e6
            same = all(getattr(result.report, f) == getattr(local, f) for f in COUNTS)
            same_bytes = b"".join(p.read_bytes() for p in result.shards) == expected
            total = sum(result.shuffle_bytes.values())
            print(f"  ray, {n} worker process(es)            {dt:8.2f} s  {rates[n]:7.2f} MB/s   "
                  f"(median of {len(times)}: {', '.join(f'{x:.2f}' for x in times)} s)  "
                  f"same counts: {same}, same bytes: {same_bytes}")
            print(f"      {result.chunks} input ranges, {result.cc_rounds} connected-component rounds, "
                  f"peak worker RSS {sampler.peak / 1e6:.0f} MB")
            print(f"      shuffled {total / 1e6:.1f} MB = {total / size * 1e3:.1f} MB per GB of input: "
                  + ", ".join(f"{k} {v / size * 1e3:.1f}" for k, v in result.shuffle_bytes.items()))
            r = result.report
            dedup_in = r.kept + r.removed_by_reason.get("exact_duplicate", 0) + r.removed_by_reason.get("near_duplicate", 0)
            unique = dedup_in - r.removed_by_reason.get("exact_duplicate", 0)
            sb = result.shuffle_bytes
            print(f"      {r.read} records ({size / r.read:.0f} B each), {dedup_in} reach dedup, {unique} exact-unique: "
                  f"exact {sb.get('exact', 0) / max(dedup_in, 1):.0f} B per deduped record, "
                  f"bands {sb.get('bands', 0) / max(unique, 1):.0f} B per exact-unique record, "
                  f"write {sb.get('write', 0) / r.read:.0f} B per record")
        if 1 in rates and 2 in rates:
            print(f"  2 / 1 worker throughput ratio: {rates[2] / rates[1]:.2f}")
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        current = pathlib.Path("/tmp/ray/ray_current_cluster")  # recorded by `ray start --head`, stale now
        if current.is_file() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
