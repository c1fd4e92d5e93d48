"""Mutations of real log and eval files for the fuzz tests (tests/test_fuzz.py).

Seeds are files written by the real tools where the repository holds them (TensorBoard
event files, a W&B offline run log, JSONL and text logs of the H100 recordings, nanoGPT/llm.c
logs, Inspect,
lm-eval and promptfoo logs in sample_runs/evals); CSV, MLflow and trainer_state.json seeds
are built to the formats those loggers document. Every case is reproducible from its
number: `case(i)` always returns the same file.

Mutations are byte-level (bit flips, truncation, junk, deleted and repeated slices, invalid
UTF-8) and structure-aware (a number replaced by a list, a 5,000-digit number, nesting 1,000
deep, a NaN token; a zip entry's data or header fields corrupted).
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
H100 = FIXTURES / "h100-runs"
EVALS = ROOT / "sample_runs" / "evals"
SEED_BYTES = 24 * 1024  # a slice of each big seed: mutations, not size, find the bugs


@dataclass(frozen=True, slots=True)
class Seed:
    name: str  # the file name the mutated case is written under
    kind: str  # "metric" (read by the ingest readers) or "eval" (read by the eval loaders)
    data: bytes


@dataclass(frozen=True, slots=True)
class Case:
    number: int
    seed: Seed
    mutation: str
    data: bytes

    @property
    def name(self) -> str:
        return self.seed.name


def _head(path: Path, size: int = SEED_BYTES) -> bytes:
    data = path.read_bytes()
    if len(data) <= size or path.name.startswith("events.out"):
        return data[: max(size * 4, 1)] if path.name.startswith("events.out") else data
    cut = data.rfind(b"\n", 0, size)
    return data[: cut + 1 if cut > 0 else size]


def _csv_seed() -> bytes:
    lines = ["epoch,loss,lr-AdamW,step,val_loss"]
    for step in range(60):
        val = f"{1.0 / (step + 1):.6f}" if step % 10 == 9 else ""
        lines.append(f"0,{2.0 - step * 0.01:.6f},0.001,{step},{val}")
    return ("\r\n".join(lines) + "\r\n").encode()


def _keras_seed() -> bytes:
    lines = ["epoch,accuracy,loss,val_accuracy,val_loss"]
    lines += [f"{e},{0.5 + e / 40:.4f},{1.0 - e / 40:.4f},NA,{1.1 - e / 50:.4f}" for e in range(20)]
    return ("\n".join(lines) + "\n").encode()


def _hf_state_seed() -> bytes:
    history = [{"epoch": i / 10, "grad_norm": 1.5, "learning_rate": 5e-5, "loss": 2.0 - i / 50,
                "step": i * 10} for i in range(1, 40)]
    history.append({"epoch": 4.0, "step": 400, "total_flos": 1.2e15, "train_loss": 1.3,
                    "train_runtime": 12.5})
    doc = {"best_metric": None, "epoch": 4.0, "global_step": 400, "log_history": history,
           "max_steps": 400, "num_train_epochs": 4, "trial_name": None}
    return json.dumps(doc, indent=2).encode()


def _mlflow_seed() -> bytes:
    return b"".join(b"%d %r %d\n" % (1700000000000 + i * 1000, 2.0 - i / 100, i)
                    for i in range(80))


def _jsonl_shapes_seed() -> bytes:
    rows = [{"step": i, "loss": 2.0 - i / 100, "lr": [1e-3, 1e-4], "opt": {"beta": 0.9},
             "phase": "train", "ok": True} for i in range(40)]
    return b'{"config": {"model": "gpt2"}, "note": "header"}\n' + b"".join(
        json.dumps(r).encode() + b"\n" for r in rows)


def seeds() -> list[Seed]:
    out: list[Seed] = []
    run = H100 / "fp16_adam_eps_nan"
    out.append(Seed("metrics.jsonl", "metric", _head(run / "metrics.jsonl")))
    out.append(Seed("shapes.jsonl", "metric", _jsonl_shapes_seed()))
    events = sorted(run.glob("events.out.tfevents.*"))[0]
    out.append(Seed(events.name, "metric", _head(events)))
    out.append(Seed("train.log", "metric", _head(run / "train.log")))
    for log in sorted((FIXTURES / "public-healthy").glob("*/*.*"))[:2]:
        out.append(Seed("main.log", "metric", _head(log)))
    out.append(Seed("metrics.csv", "metric", _csv_seed()))
    out.append(Seed("training.csv", "metric", _keras_seed()))
    out.append(Seed("trainer_state.json", "metric", _hf_state_seed()))
    out.append(Seed("mlflow:loss", "metric", _mlflow_seed()))
    for log in sorted((FIXTURES / "wandb-offline").rglob("*.wandb"))[:1]:
        out.append(Seed(log.name, "metric", log.read_bytes()[: SEED_BYTES * 4]))
    tool = EVALS / "tool_logs"
    for path in sorted(tool.rglob("*")):
        if path.suffix in (".eval", ".json", ".jsonl") and path.is_file():
            out.append(Seed(path.name, "eval", path.read_bytes()))
    for path in sorted(EVALS.glob("mcqa/*/*")):
        out.append(Seed(path.name, "eval", _head(path, 64 * 1024)))
    out.append(Seed("planted.eval", "eval",
                    next(iter(sorted((EVALS / "planted_failures").glob("*.eval")))).read_bytes()))
    return out


# ---- byte-level mutations ------------------------------------------------------------
def _flip(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 24)):
        if buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _junk(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
    return data[:i] + junk + data[i:]


def _delete(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + data[i + rng.randint(1, 2000):]


def _repeat(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    piece = data[i:i + rng.randint(1, 4000)]
    return data[:i] + piece * rng.randint(2, 5) + data[i:]


def _bad_utf8(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.choice([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00\x00"]) + data[i:]


# ---- structure-aware mutations -------------------------------------------------------
_NUMBER = re.compile(rb"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
REPLACEMENTS: list[Callable[[random.Random], bytes]] = [
    lambda r: b"9" * 5000,
    lambda r: b"1." + b"7" * 5000,
    lambda r: b"9" * 400,
    lambda r: b"1e999",
    lambda r: b"-0",
    lambda r: b"NaN",
    lambda r: b"-Infinity",
    lambda r: b"[0.1, 0.01]",
    lambda r: b'["a", 1]',
    lambda r: b"[" * 1000 + b"]" * 1000,
    lambda r: b'{"a": ' * 1000 + b"1" + b"}" * 1000,
    lambda r: b'{"a": ' * 40 + b"1" + b"}" * 40,
    lambda r: b'"1.5"',
    lambda r: b"null",
    lambda r: b"true",
    lambda r: b"{}",
    lambda r: b"[]",
    lambda r: b'"' + b"x" * r.randint(1, 100000) + b'"',
    lambda r: str(r.uniform(-1e308, 1e308)).encode(),
    lambda r: b"99999999999999999999",
]


def _numbers(rng: random.Random, data: bytes) -> bytes:
    found = [m.span() for m in _NUMBER.finditer(data[:200000])]
    if not found:
        return _junk(rng, data)
    buf = data
    for start, end in sorted(rng.sample(found, min(len(found), rng.randint(1, 6))), reverse=True):
        buf = buf[:start] + rng.choice(REPLACEMENTS)(rng) + buf[end:]
    return buf


def _lines(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    if len(lines) < 3:
        return _junk(rng, data)
    how = rng.randrange(4)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if how == 0:
        lines[i], lines[j] = lines[j], lines[i]
    elif how == 1:
        lines[i] = rng.choice(REPLACEMENTS)(rng)
    elif how == 2:
        lines.insert(i, lines[j][: rng.randrange(len(lines[j]) + 1)])
    else:
        lines[i] = lines[i].replace(b",", b"," * rng.randint(2, 5), 1).replace(b":", b"", 1)
    return b"\n".join(lines)


# ---- zip mutations (Inspect .eval) ---------------------------------------------------
def _zip_entry(rng: random.Random, data: bytes) -> bytes:
    """Corrupt the compressed bytes of one entry (a zstd or deflate data error)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [i for i in zf.infolist() if i.compress_size > 4]
    except Exception:  # an earlier mutation broke the directory: any byte will do  # noqa: BLE001
        return _flip(rng, data)
    if not infos:
        return _flip(rng, data)
    info = rng.choice(infos)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        at = start + rng.randrange(info.compress_size)
        if at < len(buf):
            buf[at] ^= 0xFF
    return bytes(buf)


def _zip_headers(rng: random.Random, data: bytes) -> bytes:
    """A field of the local or central headers: version needed 9.9, another compression
    method, a wrong size or CRC, a flag bit (encryption)."""
    buf = bytearray(data)
    sigs = [m.start() for m in re.finditer(rb"PK\x03\x04|PK\x01\x02", data)]
    if not sigs:
        return _flip(rng, data)
    for at in rng.sample(sigs, min(len(sigs), rng.randint(1, 3))):
        central = buf[at + 2:at + 4] == b"\x01\x02"
        base = at + (2 if central else 0)  # central headers hold "version made by" first
        field = rng.choice(["version", "flags", "method", "crc", "size", "name_len"])
        offset = {"version": 4, "flags": 6, "method": 8, "crc": 14, "size": 18,
                  "name_len": 26}[field] + base
        value = {"version": 99, "flags": 1, "method": rng.choice([93, 99, 12, 14, 1234]),
                 "crc": rng.randrange(1 << 16), "size": rng.randrange(1 << 16),
                 "name_len": rng.randrange(1 << 16)}[field]
        if offset + 2 <= len(buf):
            struct.pack_into("<H", buf, offset, value)
    return bytes(buf)


BYTE_MUTATIONS = [_flip, _truncate, _junk, _delete, _repeat, _bad_utf8]
MUTATIONS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    f.__name__.strip("_"): f for f in [*BYTE_MUTATIONS, _numbers, _lines]}
ZIP_MUTATIONS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "zip_entry": _zip_entry, "zip_headers": _zip_headers, "truncate": _truncate,
    "flip": _flip, "junk": _junk}


def case(number: int, pool: list[Seed] | None = None) -> Case:
    """Case `number`: a seed (round robin) with one to three mutations from a seeded rng."""
    pool = pool if pool is not None else seeds()
    seed = pool[number % len(pool)]
    rng = random.Random(number)
    table = ZIP_MUTATIONS if seed.data[:2] == b"PK" else MUTATIONS
    names = [rng.choice(list(table)) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
    data = seed.data
    for name in names:
        data = table[name](rng, data) if data else data
    return Case(number, seed, "+".join(names), data)
