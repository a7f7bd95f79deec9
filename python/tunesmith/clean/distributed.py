"""The clean pass on a Ray cluster: the same records kept, the same report, sharded output.

``tunesmith clean IN... -o OUT_DIR --executor ray [--address ADDR]`` (or ``Pipeline.run(..., executor="ray")``)
runs the steps of the local pass as Ray Data stages; every step calls the same Rust code as the local run:

1. **Per record** (``map_batches`` over byte ranges of the inputs, ``tunesmith._core.RayStage.analyze``): parse,
   normalise, length / seed / Gopher filters, PII, the xxh3-128 content hash, the MinHash signature and its LSH
   band keys. Every record gets a global id ``chunk << 32 | line-in-chunk``; chunks are planned in input order,
   so id order is input order, and "first occurrence" means "smallest id", exactly as in the local pass.
2. **Exact dedup**: a hash-partitioned shuffle on the 128-bit content hash (``groupby`` on ``hash % P``), so a
   duplicate set meets in one task; the smallest id of each set is kept, the others point to it.
3. **Near dedup**: the surviving records' band keys are shuffled by bucket (``band, key``); each bucket with
   several members yields star edges ``(min id, member)``; a distributed connected-components step (alternating
   large-star / small-star rounds, Kiveris et al. 2014, "Connected Components in MapReduce and Beyond") labels
   every colliding record with its component's smallest id; each component is then shuffled to one task that
   replays the local pass's streaming LSH dedup over its members in id order
   (``RayStage.resolve``). A record is only ever compared with records sharing a band key, which lie in its
   component, so this reproduces the local keep-first decisions, the ``duplicate_of`` targets included.
4. **Write**: the decisions, and the per-record results that are not "kept unchanged", are shuffled to the task
   of their input chunk, which re-reads its byte range and writes ``part-NNNNN.jsonl`` of the kept records (and
   of the removed / rejected side files) in input order. Concatenating the shards in name order gives the local
   run's output byte for byte, so the output is deterministic whatever the cluster size.

Only ids, hashes, band keys, graph edges, the signatures of colliding records and the changed records move through
shuffles; the records themselves are read twice from their files instead (see ``benches/bench_ray.py`` for the
measured shuffle volume per GB of input).

Example::

    ray start --head --port=6379 --num-cpus=0        # plus `ray start --address=HEAD:6379` on each worker
    tunesmith clean data/*.jsonl -o clean/ --removed removed/ --report report.json \\
        --executor ray --address HEAD:6379
    cat clean/part-*.jsonl > clean.jsonl             # the local run's output, byte for byte

The inputs and the output directories must be on storage every node sees (the writers run on the workers).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunesmith.clean.report import CleanReport
from tunesmith.errors import ArgumentError, InputError, UnsupportedError

__all__ = ["RayCleanResult", "run_ray"]

PathLike = str | os.PathLike[str]

#: Status codes of ``RayStage.analyze``.
_PASS, _REMOVED, _REJECTED = 0, 1, 2
#: Row kinds of the write shuffle.
_K_RECORD, _K_EXACT, _K_NEAR, _K_TARGET, _K_CHUNK = 0, 1, 2, 3, 4
_LINE_BITS = 32
_LINE_MASK = (1 << _LINE_BITS) - 1
_MIX = np.uint64(0x9E3779B97F4A7C15)
_COMPRESSED = {".gz", ".gzip", ".zst", ".zstd"}
_REJECTION_SAMPLES = 100
_INSTALL_HINT = "the Ray executor needs Ray Data: pip install 'tunesmith[dist]' (ray[data]>=2.40)"


@dataclass(frozen=True)
class RayCleanResult:
    """What :func:`run_ray` did.

    Attributes:
        report: the same counts a local run reports (``state_bytes`` holds the bytes the dedup shuffles moved).
        shards: the kept-record shards, in input order.
        shuffle_bytes: bytes fed to each shuffle, by stage (``exact``, ``bands``, ``components``,
            ``candidates``, ``write``), as Ray Data measures the materialised blocks.
        chunks: number of input byte ranges (one task each, one output shard each).
        cc_rounds: large-star / small-star rounds the connected-components step needed.
    """

    report: CleanReport
    shards: list[pathlib.Path]
    shuffle_bytes: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    cc_rounds: int = 0


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:  # pragma: no cover - exercised only without ray installed
        raise ImportError(_INSTALL_HINT) from e
    return ray


# ---------------------------------------------------------------- planning


def _is_compressed(path: pathlib.Path) -> bool:
    if path.suffix.lower() in _COMPRESSED:
        return True
    with path.open("rb") as f:
        head = f.read(4)
    return head[:2] == b"\x1f\x8b" or head == b"\x28\xb5\x2f\xfd"


def _plan_chunks(paths: list[pathlib.Path], chunk_bytes: int) -> list[dict[str, Any]]:
    """Byte ranges of about ``chunk_bytes`` that end just after a newline (a compressed file is one range)."""
    chunks: list[dict[str, Any]] = []
    for file_idx, path in enumerate(paths):
        size = path.stat().st_size
        if size == 0:
            continue
        if _is_compressed(path):
            chunks.append({"file": file_idx, "path": str(path), "start": 0, "end": -1})
            continue
        start = 0
        with path.open("rb") as f:
            while start < size:
                end = min(start + chunk_bytes, size)
                if end < size:
                    f.seek(end)
                    while True:
                        block = f.read(1 << 16)
                        if not block:
                            end = size
                            break
                        nl = block.find(b"\n")
                        if nl >= 0:
                            end += nl + 1
                            break
                        end += len(block)
                chunks.append({"file": file_idx, "path": str(path), "start": start, "end": end})
                start = end
    if len(chunks) >= 1 << 31:
        raise ArgumentError(f"chunk_bytes={chunk_bytes} splits the input into {len(chunks)} ranges; raise it")
    for i, c in enumerate(chunks):
        c["chunk"] = i
    return chunks


# ---------------------------------------------------------------- per-record stage (runs on workers)

_STAGES: dict[str, Any] = {}


def _stage(config: dict[str, Any]):
    """The ``RayStage`` for ``config``, built once per worker process."""
    key = json.dumps(config, sort_keys=True, default=str)
    stage = _STAGES.get(key)
    if stage is None:
        from tunesmith import _core

        # One Ray task per CPU: the Rust pool stays single-threaded inside it.
        _core.set_num_threads(1)
        stage = _STAGES[key] = _core.RayStage(config)
    return stage


def _fixed_list(values: np.ndarray, width: int):
    import pyarrow as pa

    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(values).reshape(-1)), width)


def _list_values(column, width: int, dtype) -> np.ndarray:
    """A fixed-size-list column as an ``(n, width)`` array."""
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    flat = arr.flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=dtype).reshape(-1, width)


def _analyze(batch, config: dict[str, Any]):
    import pyarrow as pa

    stage = _stage(config)
    p, b, k = stage.num_perm, stage.num_bands, len(stage.pii_kinds)
    tables = []
    for row in batch.to_pylist():
        end = None if row["end"] < 0 else row["end"]
        out = stage.analyze(row["path"], row["start"], end)
        n = len(out["line"])
        ids = (np.uint64(row["chunk"]) << np.uint64(_LINE_BITS)) | (out["line"] - np.uint64(1))
        cols = {
            "id": pa.array(ids, pa.uint64()),
            "status": pa.array(out["status"], pa.uint8()),
            "reason": pa.array(out["reason"], pa.string()),
            "nbytes": pa.array(out["nbytes"], pa.uint64()),
            "hash_hi": pa.array(out["hash_hi"], pa.uint64()),
            "hash_lo": pa.array(out["hash_lo"], pa.uint64()),
            "rewritten": pa.array(out["rewritten"], pa.binary()),
            "pii": _fixed_list(out["pii"].astype(np.uint32), k),
            "has_pii": pa.array(out["pii"].sum(axis=1) > 0 if n else np.zeros(0, bool), pa.bool_()),
        }
        if b:
            cols["bands"] = _fixed_list(out["bands"], b)
            cols["signature"] = _fixed_list(out["signatures"], p)
        tables.append(pa.table(cols))
    return pa.concat_tables(tables) if tables else pa.table({})


def _summarize(batch):
    """Per batch: line counts per chunk, and the first rejected records (for the report's samples)."""
    import pyarrow as pa

    ids = batch.column("id").to_numpy()
    status = batch.column("status").to_numpy()
    chunks, counts = np.unique(ids >> np.uint64(_LINE_BITS), return_counts=True)
    rej = np.flatnonzero(status == _REJECTED)
    rej = rej[np.argsort(ids[rej], kind="stable")][:_REJECTION_SAMPLES]
    reasons = batch.column("reason").to_pylist()
    n_c, n_r = len(chunks), len(rej)
    return pa.table(
        {
            "chunk": pa.array(np.concatenate([chunks, np.zeros(n_r, np.uint64)]), pa.uint64()),
            "lines": pa.array(np.concatenate([counts, np.zeros(n_r, np.int64)]).astype(np.uint64), pa.uint64()),
            "rej_id": pa.array([None] * n_c + [int(ids[i]) for i in rej], pa.uint64()),
            "rej_error": pa.array([None] * n_c + [reasons[i] for i in rej], pa.string()),
        }
    )


def _passing(batch, partitions: int, with_hash: bool):
    """The records that passed every filter, with the shuffle partition of their content hash."""
    import pyarrow.compute as pc

    t = batch.filter(pc.equal(batch.column("status"), 0))
    keep = ["id", "hash_hi", "hash_lo"] + (["bands"] if "bands" in t.column_names else [])
    t = t.select(keep)
    part = (t.column("hash_lo").to_numpy() % np.uint64(partitions)) if with_hash else (
        _mix(t.column("id").to_numpy()) % np.uint64(partitions)
    )
    return t.append_column("part", _u64(part))


def _u64(values):
    import pyarrow as pa

    return pa.array(np.asarray(values, dtype=np.uint64), pa.uint64())


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads ids / keys over partitions."""
    with np.errstate(over="ignore"):
        z = (np.asarray(x, dtype=np.uint64) + _MIX).astype(np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _bucket_rows(ids: np.ndarray, bands: np.ndarray, partitions: int):
    """One row per (record, band): the bucket key ``mix(band) ^ key`` and its shuffle partition."""
    import pyarrow as pa

    n, b = bands.shape
    with np.errstate(over="ignore"):
        band_salt = _mix(np.arange(b, dtype=np.uint64))
        keys = (bands ^ band_salt[None, :]).reshape(-1)
    bucket_ids = np.repeat(ids, b)
    return pa.table(
        {"bucket": _u64(keys), "id": _u64(bucket_ids), "part": _u64(_mix(keys) % np.uint64(partitions))}
    )


def _decision_table(ids, kinds, dup_of):
    import pyarrow as pa

    return pa.table({"id": _u64(ids), "kind": pa.array(np.asarray(kinds, np.uint8), pa.uint8()), "dup_of": _u64(dup_of)})


def _exact_reduce(group, partitions: int):
    """One hash partition: the smallest id of each hash group is kept; the rest are exact duplicates of it.

    Returns decision rows (``kind`` 1) and, for the kept ids, their LSH bucket rows (``kind`` 255).
    """
    import pyarrow as pa

    ids = group.column("id").to_numpy()
    hi = group.column("hash_hi").to_numpy()
    lo = group.column("hash_lo").to_numpy()
    order = np.lexsort((ids, lo, hi))
    ids, hi, lo = ids[order], hi[order], lo[order]
    first = np.ones(len(ids), bool)
    first[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    rep = ids[np.maximum.accumulate(np.where(first, np.arange(len(ids)), 0))]
    dups = ~first
    out = {"decisions": _decision_table(ids[dups], np.full(int(dups.sum()), _K_EXACT), rep[dups])}
    if "bands" in group.column_names:
        b = group.schema.field("bands").type.list_size
        bands = _list_values(group.column("bands"), b, np.uint64)[order][first]
        out["buckets"] = _bucket_rows(ids[first], bands, partitions)
    return _tagged(out)


def _tagged(parts: dict[str, Any]):
    """Stack decision rows and bucket rows into one table (``bucket`` / ``part`` null for decisions)."""
    import pyarrow as pa

    dec = parts["decisions"]
    rows = [
        pa.table(
            {
                "id": dec.column("id"),
                "kind": dec.column("kind"),
                "dup_of": dec.column("dup_of"),
                "bucket": pa.nulls(dec.num_rows, pa.uint64()),
                "part": pa.nulls(dec.num_rows, pa.uint64()),
            }
        )
    ]
    if "buckets" in parts:
        bk = parts["buckets"]
        rows.append(
            pa.table(
                {
                    "id": bk.column("id"),
                    "kind": pa.array(np.full(bk.num_rows, 255, np.uint8), pa.uint8()),
                    "dup_of": pa.nulls(bk.num_rows, pa.uint64()),
                    "bucket": bk.column("bucket"),
                    "part": bk.column("part"),
                }
            )
        )
    return pa.concat_tables(rows)


def _rows_of_kind(batch, kind: int, columns: list[str]):
    import pyarrow.compute as pc

    return batch.filter(pc.equal(batch.column("kind"), kind)).select(columns)


def _all_buckets(batch, partitions: int):
    """Bucket rows of every passing record (exact dedup off)."""
    b = batch.schema.field("bands").type.list_size
    return _bucket_rows(batch.column("id").to_numpy(), _list_values(batch.column("bands"), b, np.uint64), partitions)


def _edges_table(a: np.ndarray, b: np.ndarray, partitions: int, key_on: str = "a"):
    import pyarrow as pa

    if len(a):
        pairs = np.unique(np.stack([a, b], axis=1), axis=0)
        a, b = pairs[:, 0], pairs[:, 1]
    key = a if key_on == "a" else b
    return pa.table({"a": _u64(a), "b": _u64(b), "part": _u64(_mix(key) % np.uint64(partitions))})


def _bucket_edges(group, partitions: int):
    """Star edges ``(member, smallest member)`` of every bucket with more than one member."""
    bucket = group.column("bucket").to_numpy()
    ids = group.column("id").to_numpy()
    order = np.lexsort((ids, bucket))
    bucket, ids = bucket[order], ids[order]
    start = np.ones(len(ids), bool)
    start[1:] = bucket[1:] != bucket[:-1]
    head = ids[np.maximum.accumulate(np.where(start, np.arange(len(ids)), 0))]
    member = ~start & (ids != head)
    return _edges_table(ids[member], head[member], partitions)


# --------------------------------------------------------- connected components (Kiveris et al. 2014)


def _both_directions(batch, partitions: int):
    a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()
    return _edges_table(np.concatenate([a, b]), np.concatenate([b, a]), partitions)


def _large_star(group, partitions: int):
    """Per node u with neighbours N(u): link every larger neighbour to m = min(N(u) ∪ {u})."""
    u, v = group.column("a").to_numpy(), group.column("b").to_numpy()
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    start = np.ones(len(u), bool)
    start[1:] = u[1:] != u[:-1]
    idx = np.flatnonzero(start)
    m = np.minimum(u[idx], np.minimum.reduceat(v, idx)) if len(idx) else np.zeros(0, np.uint64)
    m_row = m[np.cumsum(start) - 1]
    big = v > u
    return _edges_table(v[big], m_row[big], partitions)


def _orient_down(batch, partitions: int):
    """Edges keyed by their larger end (small-star's map side)."""
    a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    keep = hi != lo
    return _edges_table(hi[keep], lo[keep], partitions)


def _small_star(group, partitions: int):
    """Per node u with smaller neighbours N(u): link N(u) ∪ {u} to m = min(N(u))."""
    u, v = group.column("a").to_numpy(), group.column("b").to_numpy()
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    start = np.ones(len(u), bool)
    start[1:] = u[1:] != u[:-1]
    idx = np.flatnonzero(start)
    m = np.minimum.reduceat(v, idx) if len(idx) else np.zeros(0, np.uint64)
    m_row = m[np.cumsum(start) - 1]
    src = np.concatenate([v, u[idx]])
    dst = np.concatenate([m_row, m])
    keep = src != dst
    return _edges_table(src[keep], dst[keep], partitions)


def _fingerprint(batch):
    import pyarrow as pa

    a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()
    with np.errstate(over="ignore"):
        h = _mix(_mix(a) ^ b)
        total = int(np.sum(h, dtype=np.uint64)) if len(h) else 0
    return pa.table({"n": pa.array([len(a)], pa.uint64()), "sum": pa.array([total], pa.uint64())})


def _fp(ds) -> tuple[int, int]:
    rows = ds.map_batches(_fingerprint, batch_format="pyarrow", batch_size=None).take_all()
    return sum(r["n"] for r in rows), sum(r["sum"] for r in rows) % (1 << 64)


# ---------------------------------------------------------------- near-dup replay and writing


def _pick_candidates(batch, lookup, partitions: int):
    """Rows of the records in a component, with their component id, signature and band keys."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ray = _ray()
    nodes, roots = ray.get(lookup[0])
    t = batch.filter(pc.equal(batch.column("status"), 0))
    ids = t.column("id").to_numpy()
    pos = np.searchsorted(nodes, ids)
    pos_c = np.minimum(pos, max(len(nodes) - 1, 0))
    hit = (pos < len(nodes)) & (nodes[pos_c] == ids) if len(nodes) else np.zeros(len(ids), bool)
    t = t.filter(pa.array(hit)).select(["id", "signature", "bands"])
    comp = roots[pos_c[hit]]
    return t.append_column("component", _u64(comp)).append_column("part", _u64(_mix(comp) % np.uint64(partitions)))


def _resolve(group, config: dict[str, Any]):
    stage = _stage(config)
    ids = group.column("id").to_numpy()
    dup = stage.resolve(
        group.column("component").to_numpy(),
        ids,
        _list_values(group.column("signature"), stage.num_perm, np.uint32),
        _list_values(group.column("bands"), stage.num_bands, np.uint64),
    )
    removed = dup >= 0
    return _decision_table(ids[removed], np.full(int(removed.sum()), _K_NEAR), dup[removed].astype(np.uint64))


def _write_rows_from_records(batch):
    """Per-record results the writer needs: anything but "passed, unchanged, no PII"."""
    import pyarrow as pa
    import pyarrow.compute as pc

    notable = pc.or_(
        pc.or_(pc.not_equal(batch.column("status"), 0), pc.is_valid(batch.column("rewritten"))),
        batch.column("has_pii"),
    )
    t = batch.filter(notable)
    n = t.num_rows
    return pa.table(
        {
            "id": t.column("id"),
            "kind": pa.array(np.full(n, _K_RECORD, np.uint8), pa.uint8()),
            "status": t.column("status"),
            "reason": t.column("reason"),
            "dup_of": pa.nulls(n, pa.uint64()),
            "rewritten": t.column("rewritten"),
            "pii": t.column("pii"),
            "chunk": _u64(t.column("id").to_numpy() >> np.uint64(_LINE_BITS)),
        }
    )


def _write_rows_from_decisions(batch, pii_width: int):
    """Decision rows for the duplicate's chunk, and a target marker for the chunk of the record it points to."""
    import pyarrow as pa

    ids, kinds, dup = batch.column("id").to_numpy(), batch.column("kind").to_numpy(), batch.column("dup_of").to_numpy()
    n = len(ids)
    all_ids = np.concatenate([ids, dup])
    all_kinds = np.concatenate([kinds, np.full(n, _K_TARGET, np.uint8)])
    all_dup = np.concatenate([dup, dup])
    m = 2 * n
    return pa.table(
        {
            "id": _u64(all_ids),
            "kind": pa.array(all_kinds, pa.uint8()),
            "status": pa.array(np.full(m, _REMOVED, np.uint8), pa.uint8()),
            "reason": pa.nulls(m, pa.string()),
            "dup_of": _u64(all_dup),
            "rewritten": pa.nulls(m, pa.binary()),
            "pii": pa.nulls(m, pa.list_(pa.uint32(), pii_width)),
            "chunk": _u64(all_ids >> np.uint64(_LINE_BITS)),
        }
    )


def _json(value: Any) -> str:
    # serde_json's compact form, as the local side files are written.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _atomic_write(path: pathlib.Path, lines: list[bytes], fsync: bool = False) -> int:
    from tunesmith import atomic

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    data = b"".join(line + b"\n" for line in lines)
    with tmp.open("wb") as f:
        f.write(data)
    atomic.replace(tmp, path, fsync=fsync)
    return len(data)


def _write_chunk(group, chunks: list[dict[str, Any]], bases: list[int], names: list[str], pii_kinds: list[str],
                 dirs: dict[str, str | None], fsync: bool = False):
    """Write one input range's shards; return its counts."""
    import pyarrow as pa

    from tunesmith import _core

    chunk = int(group.column("chunk")[0].as_py())
    spec = chunks[chunk]
    lines = _core.RayStage.read_lines(spec["path"], spec["start"], None if spec["end"] < 0 else spec["end"])
    n = len(lines)
    status = np.zeros(n, np.uint8)
    reason: list[str | None] = [None] * n
    dup_of: dict[int, int] = {}
    rewritten: dict[int, bytes] = {}
    pii: dict[int, np.ndarray] = {}
    targets: set[int] = set()
    kinds = group.column("kind").to_numpy()
    ids = group.column("id").to_numpy()
    local = (ids & np.uint64(_LINE_MASK)).astype(np.int64)
    reasons = group.column("reason").to_pylist()
    statuses = group.column("status").to_numpy()
    dups = group.column("dup_of").to_pylist()
    rew = group.column("rewritten").to_pylist()
    piis = group.column("pii").to_pylist()
    for i in np.flatnonzero(kinds == _K_RECORD):
        j = int(local[i])
        status[j] = statuses[i]
        reason[j] = reasons[i]
        if rew[i] is not None:
            rewritten[j] = rew[i]
        if piis[i] is not None and any(piis[i]):
            pii[j] = np.asarray(piis[i], np.uint64)
    for i in np.flatnonzero((kinds == _K_EXACT) | (kinds == _K_NEAR)):
        j = int(local[i])
        status[j] = _REMOVED
        reason[j] = "exact_duplicate" if kinds[i] == _K_EXACT else "near_duplicate"
        dup_of[j] = int(dups[i])
    for i in np.flatnonzero(kinds == _K_TARGET):
        targets.add(int(ids[i]))
    name = names[spec["file"]]
    base = bases[chunk]
    kept_lines: list[bytes] = []
    removed_lines: list[bytes] = []
    rejected_lines: list[bytes] = []
    by_reason: dict[str, int] = {}
    pii_total = np.zeros(len(pii_kinds), np.uint64)
    for j, raw in enumerate(lines):
        line_no = base + j + 1
        st = status[j]
        if st == _PASS:
            kept_lines.append(rewritten.get(j, raw))
            if j in pii:
                pii_total += pii[j]
        elif st == _REMOVED:
            r = reason[j] or ""
            by_reason[r] = by_reason.get(r, 0) + 1
            if r == "pii" and j in pii:
                pii_total += pii[j]
            if dirs["removed"] is not None:
                head: dict[str, Any] = {}
                if j in dup_of:
                    t = dup_of[j]
                    tc = t >> _LINE_BITS
                    head["duplicate_of"] = {"file": names[chunks[tc]["file"]], "line": bases[tc] + (t & _LINE_MASK) + 1}
                head.update({"file": name, "line": line_no, "reason": r})
                text = _json(head)[:-1] + ',"record":' + raw.decode("utf-8", "replace") + "}"
                removed_lines.append(text.encode("utf-8"))
        else:
            if dirs["rejected"] is not None:
                rec = {"error": reason[j], "file": name, "line": line_no, "raw": raw.decode("utf-8", "replace")}
                rejected_lines.append(_json(rec).encode("utf-8"))
    shard = f"part-{chunk:05d}.jsonl"
    written = 0
    if dirs["kept"] is not None:
        written += _atomic_write(pathlib.Path(dirs["kept"]) / shard, kept_lines, fsync)
    if dirs["removed"] is not None:
        written += _atomic_write(pathlib.Path(dirs["removed"]) / shard, removed_lines, fsync)
    if dirs["rejected"] is not None:
        written += _atomic_write(pathlib.Path(dirs["rejected"]) / shard, rejected_lines, fsync)
    return pa.table(
        {
            "chunk": pa.array([chunk], pa.uint64()),
            "read": pa.array([n], pa.uint64()),
            "kept": pa.array([len(kept_lines)], pa.uint64()),
            "rejected": pa.array([int((status == _REJECTED).sum())], pa.uint64()),
            "by_reason": pa.array([json.dumps(by_reason)], pa.string()),
            "pii": pa.array([json.dumps({k: int(v) for k, v in zip(pii_kinds, pii_total, strict=True) if v})]),
            "targets": pa.array([len(targets)], pa.uint64()),
            "bytes_read": pa.array([sum(len(x) + 1 for x in lines)], pa.uint64()),
            "bytes_written": pa.array([written], pa.uint64()),
        }
    )


# ---------------------------------------------------------------- driver


class _OutputDir:
    """A directory of shards built under a temporary sibling and swapped in at the end."""

    def __init__(self, path: PathLike | None) -> None:
        self.final = None if path is None else pathlib.Path(path)
        self.tmp: pathlib.Path | None = None
        if self.final is not None:
            if self.final.exists() and not self.final.is_dir():
                raise ArgumentError(f"{self.final}: the Ray executor writes a directory of shards; this is a file")
            if self.final.is_dir() and any(not p.name.startswith("part-") for p in self.final.iterdir()):
                raise ArgumentError(f"{self.final}: exists and holds files other than part-*.jsonl shards; "
                                    "name a new or empty directory")
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = self.final.with_name(f".{self.final.name}.tmp-{uuid.uuid4().hex[:8]}")
            self.tmp.mkdir()

    def commit(self, fsync: bool = False) -> list[pathlib.Path]:
        """Rename the shard directory into place (its shards were synced as written when ``fsync``; then so is
        the rename)."""
        if self.final is None or self.tmp is None:
            return []
        if self.final.is_dir():
            shutil.rmtree(self.final)
        os.replace(self.tmp, self.final)
        if fsync:
            from tunesmith import atomic

            atomic.sync_dir(self.final.parent)
        self.tmp = None
        return sorted(self.final.glob("part-*.jsonl"))

    def discard(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def _connected_components(edges, partitions: int, max_rounds: int = 64):
    """Label every node of ``edges`` with its component's smallest id.

    Returns ``(stars, rounds, shuffled)``: the final edges ``(node, root)`` (roots themselves absent), the number
    of large-star / small-star rounds, and the bytes fed to their shuffles. Each round's edge set is
    fingerprinted (count and sum of a 64-bit mix of every edge); two equal fingerprints in a row mean the
    edge set stopped changing, which for these two operations means every component is a star on its minimum.
    """
    prev: tuple[int, int] | None = None
    rounds = shuffled = 0
    kw = {"partitions": partitions}
    while True:
        rounds += 1
        both = edges.map_batches(_both_directions, batch_format="pyarrow", batch_size=None, fn_kwargs=kw).materialize()
        large = both.groupby("part", num_partitions=partitions).map_groups(_large_star, batch_format="pyarrow", fn_kwargs=kw)
        down = large.map_batches(_orient_down, batch_format="pyarrow", batch_size=None, fn_kwargs=kw).materialize()
        small = (
            down.groupby("part", num_partitions=partitions)
            .map_groups(_small_star, batch_format="pyarrow", fn_kwargs=kw)
            .materialize()
        )
        shuffled += both.size_bytes() + down.size_bytes()
        fp = _fp(small)
        if fp == prev:
            return small, rounds, shuffled
        if rounds >= max_rounds:
            raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
        prev, edges = fp, small


def run_ray(
    inputs: PathLike | Sequence[PathLike],
    output: PathLike | None,
    config: Any = None,
    *,
    removed: PathLike | None = None,
    rejected: PathLike | None = None,
    report: PathLike | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    chunk_bytes: int = 16 << 20,
    partitions: int | None = None,
    **overrides: Any,
) -> RayCleanResult:
    """Clean JSONL files on a Ray cluster, with the same decisions and report as the local pass.

    Args:
        inputs: JSONL files (plain, ``.gz`` or ``.zst``; a compressed file is read by one task).
        output: directory for the kept shards ``part-NNNNN.jsonl`` (one per input range, in input order), or
            ``None`` to count only. An existing directory must hold only such shards; it is replaced.
        config: a :class:`~tunesmith.clean.CleanConfig`, dict, YAML path or ``None``; ``overrides`` as in
            :class:`~tunesmith.clean.Pipeline`.
        removed, rejected: directories for the side-file shards (same names as the kept shards).
        report: write ``report.json`` here.
        address: the cluster to join (``"auto"``, ``"ray://host:10001"``, ``"127.0.0.1:6379"``); ``None`` joins
            the cluster this process is already connected to, or starts a local one.
        num_cpus: CPUs of a new local Ray instance started here (only when no cluster is running).
        chunk_bytes: size of the input byte ranges; one task and one output shard each.
        partitions: shuffle partitions (default: the cluster's CPU count, at least 2).

    Returns:
        A :class:`RayCleanResult` with the report, the shard paths and the shuffle volume by stage.

    Raises:
        ImportError: Ray Data is not installed (the message says how to install it).
        InputError: a record is malformed and the config is ``strict`` (names file and line).
        ArgumentError: Parquet input, or ``output`` names a file.
    """
    ray = _ray()
    import ray.data as rd

    from tunesmith.clean.config import CleanConfig

    cfg = CleanConfig.coerce(config, **overrides)
    core_cfg = cfg.to_core()
    paths = [pathlib.Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [pathlib.Path(p) for p in inputs]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"input file(s) not found: {', '.join(missing)}")
    bad = [str(p) for p in paths if p.suffix.lower() in {".parquet", ".pq"}]
    if bad:
        raise UnsupportedError(f"{bad[0]}: the Ray executor reads JSONL (.gz/.zst); use executor='local' for Parquet")
    if chunk_bytes <= 0:
        raise ArgumentError(f"chunk_bytes must be positive, got {chunk_bytes}")
    from tunesmith import _core

    probe = _core.RayStage(core_cfg)  # validates the config on the driver before any task starts
    near = probe.num_bands > 0
    pii_kinds = list(probe.pii_kinds)

    started_here = False
    if not ray.is_initialized():
        if address is None:
            # Like ray.init(): RAY_ADDRESS or a `ray start` cluster on this machine if there is one, else a new one.
            extra = {} if num_cpus is None else {"num_cpus": num_cpus}
            ray.init(include_dashboard=False, log_to_driver=False, **extra)
        else:
            ray.init(address=address, log_to_driver=False)
        started_here = True
    dirs = {"kept": _OutputDir(output), "removed": _OutputDir(removed), "rejected": _OutputDir(rejected)}
    t0 = time.perf_counter()
    try:
        ctx = rd.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        # Task-based shuffles: the actor-based hash shuffle takes tens of seconds to start per stage on a small
        # cluster. Rows are still routed by hash: every shuffle key is ``hash % partitions``.
        ctx.shuffle_strategy = rd.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
        parts = partitions or max(2, int(ray.cluster_resources().get("CPU", 2)))
        chunks = _plan_chunks(paths, chunk_bytes)
        names = [str(p) for p in paths]
        shuffle: dict[str, int] = {}
        result_report, rounds = _execute(rd, chunks, names, core_cfg, cfg, parts, near, pii_kinds, dirs, shuffle)
        shards = dirs["kept"].commit(cfg.fsync)
        dirs["removed"].commit(cfg.fsync)
        dirs["rejected"].commit(cfg.fsync)
    except BaseException:
        for d in dirs.values():
            d.discard()
        raise
    finally:
        if started_here:
            ray.shutdown()
    seconds = time.perf_counter() - t0
    final = CleanReport.from_core({**result_report, "seconds": seconds})
    if report is not None:
        final.write_json(report, fsync=cfg.fsync)
    return RayCleanResult(final, shards, shuffle, len(chunks), rounds)


def _execute(rd, chunks, names, core_cfg, cfg, parts, near, pii_kinds, dirs, shuffle):
    empty = {"read": 0, "kept": 0, "removed": 0, "rejected": 0, "removed_by_reason": {}, "pii_by_kind": {}}
    if not chunks:
        for d in dirs.values():
            if d.tmp is not None:
                (d.tmp / "part-00000.jsonl").write_bytes(b"")
        return empty, 0
    pii_width = len(pii_kinds)
    records = (
        rd.from_items(chunks, override_num_blocks=len(chunks))
        .map_batches(_analyze, batch_size=1, batch_format="pyarrow", fn_kwargs={"config": core_cfg})
        .materialize()
    )
    # Line numbers and rejection samples.
    lines = np.zeros(len(chunks), np.uint64)
    rejections: list[tuple[int, str]] = []
    for row in records.map_batches(_summarize, batch_format="pyarrow", batch_size=None).take_all():
        if row["rej_id"] is None:
            lines[int(row["chunk"])] += np.uint64(row["lines"])
        else:
            rejections.append((int(row["rej_id"]), row["rej_error"]))
    bases = [0] * len(chunks)
    for i in range(1, len(chunks)):
        same_file = chunks[i]["file"] == chunks[i - 1]["file"]
        bases[i] = bases[i - 1] + int(lines[i - 1]) if same_file else 0
    rejections.sort()

    def where(rid: int) -> tuple[str, int]:
        c = rid >> _LINE_BITS
        return names[chunks[c]["file"]], bases[c] + (rid & _LINE_MASK) + 1

    if cfg.strict and rejections:
        file, line = where(rejections[0][0])
        raise InputError(f"{file}:{line}: {rejections[0][1]}")

    decisions = []
    exact_dups = 0
    passing = None
    if cfg.exact_dedup.enabled:
        passing = records.map_batches(
            _passing, batch_format="pyarrow", batch_size=None, fn_kwargs={"partitions": parts, "with_hash": True}
        ).materialize()
        shuffle["exact"] = passing.size_bytes()
        stage2 = (
            passing.groupby("part", num_partitions=parts)
            .map_groups(_exact_reduce, batch_format="pyarrow", fn_kwargs={"partitions": parts})
            .materialize()
        )
        exact = stage2.map_batches(
            _rows_of_kind, batch_format="pyarrow", batch_size=None, fn_kwargs={"kind": _K_EXACT, "columns": ["id", "kind", "dup_of"]}
        ).materialize()
        exact_dups = exact.count()
        decisions.append(exact)
        buckets = (
            stage2.map_batches(
                _rows_of_kind, batch_format="pyarrow", batch_size=None, fn_kwargs={"kind": 255, "columns": ["bucket", "id", "part"]}
            )
            if near
            else None
        )
    elif near:
        buckets = records.map_batches(
            _passing, batch_format="pyarrow", batch_size=None, fn_kwargs={"partitions": parts, "with_hash": False}
        ).map_batches(_all_buckets, batch_format="pyarrow", batch_size=None, fn_kwargs={"partitions": parts})
    else:
        buckets = None
    rounds = 0
    if buckets is not None:
        buckets = buckets.materialize()
        shuffle["bands"] = buckets.size_bytes()
        edges = (
            buckets.groupby("part", num_partitions=parts)
            .map_groups(_bucket_edges, batch_format="pyarrow", fn_kwargs={"partitions": parts})
            .materialize()
        )
        if edges.count():
            stars, rounds, shuffle["components"] = _connected_components(edges, parts)
            import pyarrow as pa

            ray = _ray()
            table = pa.concat_tables(ray.get(stars.to_arrow_refs()))
            child, root = table.column("a").to_numpy(), table.column("b").to_numpy()
            roots = np.unique(root)
            nodes = np.concatenate([child, roots])
            labels = np.concatenate([root, roots])
            order = np.argsort(nodes, kind="stable")
            lookup = ray.put((nodes[order], labels[order]))
            candidates = records.map_batches(
                _pick_candidates, batch_format="pyarrow", batch_size=None,
                fn_kwargs={"lookup": [lookup], "partitions": parts},
            ).materialize()
            shuffle["candidates"] = candidates.size_bytes()
            near_dec = (
                candidates.groupby("part", num_partitions=parts)
                .map_groups(_resolve, batch_format="pyarrow", fn_kwargs={"config": core_cfg})
                .materialize()
            )
            decisions.append(near_dec)
    import pyarrow as pa

    markers = rd.from_arrow(
        pa.table(
            {
                "id": _u64(np.arange(len(chunks), dtype=np.uint64) << np.uint64(_LINE_BITS)),
                "kind": pa.array(np.full(len(chunks), _K_CHUNK, np.uint8), pa.uint8()),
                "status": pa.array(np.zeros(len(chunks), np.uint8), pa.uint8()),
                "reason": pa.nulls(len(chunks), pa.string()),
                "dup_of": pa.nulls(len(chunks), pa.uint64()),
                "rewritten": pa.nulls(len(chunks), pa.binary()),
                "pii": pa.nulls(len(chunks), pa.list_(pa.uint32(), pii_width)),
                "chunk": _u64(np.arange(len(chunks), dtype=np.uint64)),
            }
        )
    )
    kw = {"pii_width": pii_width}
    to_write = records.map_batches(_write_rows_from_records, batch_format="pyarrow", batch_size=None)
    for d in decisions:
        to_write = to_write.union(
            d.map_batches(_write_rows_from_decisions, batch_format="pyarrow", batch_size=None, fn_kwargs=kw)
        )
    to_write = to_write.union(markers).materialize()
    shuffle["write"] = to_write.size_bytes()
    summaries = (
        to_write.groupby("chunk", num_partitions=parts)
        .map_groups(
            _write_chunk,
            batch_format="pyarrow",
            fn_kwargs={
                "chunks": chunks,
                "bases": bases,
                "names": names,
                "pii_kinds": pii_kinds,
                "dirs": {k: (None if d.tmp is None else str(d.tmp)) for k, d in dirs.items()},
                "fsync": cfg.fsync,
            },
        )
        .take_all()
    )
    out = dict(empty)
    by_reason: dict[str, int] = {}
    pii: dict[str, int] = {}
    clusters = bytes_read = bytes_written = 0
    for s in summaries:
        out["read"] += s["read"]
        out["kept"] += s["kept"]
        out["rejected"] += s["rejected"]
        for k, v in json.loads(s["by_reason"]).items():
            by_reason[k] = by_reason.get(k, 0) + v
        for k, v in json.loads(s["pii"]).items():
            pii[k] = pii.get(k, 0) + v
        clusters += s["targets"]
        bytes_read += s["bytes_read"]
        bytes_written += s["bytes_written"]
    out["removed"] = sum(by_reason.values())
    out["removed_by_reason"] = dict(sorted(by_reason.items()))
    out["pii_by_kind"] = dict(sorted(pii.items()))
    passing_n = out["kept"] + by_reason.get("exact_duplicate", 0) + by_reason.get("near_duplicate", 0)
    out.update(
        clusters=clusters,
        bytes_read=bytes_read,
        bytes_written=bytes_written,
        exact_entries=(passing_n - exact_dups) if cfg.exact_dedup.enabled else 0,
        lsh_entries=out["kept"] if near else 0,
        state_bytes=sum(shuffle.values()),
        rejections=[{"file": where(r)[0], "line": where(r)[1], "error": e} for r, e in rejections[:_REJECTION_SAMPLES]],
    )
    return out, rounds
