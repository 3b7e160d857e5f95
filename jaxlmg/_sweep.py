r"""Resumable, chunked, device-parallel parameter sweeps (``jaxlmg sweep``).

A sweep is the Cartesian grid N × Γ/J × γφ × levels × Δt (C order, axes that are not
given have one value). The flat grid is cut into chunks of ``chunk`` points; each chunk
is computed, then written atomically (temporary file + ``os.replace``) to
``OUT/chunks/chunk_XXXXXX.npz`` and its SHA-256 recorded in ``OUT/manifest.json`` (strict
JSON: NaN is written as null). Rerunning the same command skips every chunk whose file
matches its recorded checksum and recomputes (with a message) any chunk that is missing,
truncated, corrupted or was changed by hand, so a run killed at any moment (SIGINT or
SIGKILL) finishes with every point computed exactly once; when all chunks exist they are
assembled into ``OUT/results.npz`` and ``OUT/results.csv``. The CSV carries status names
(OK, UNRESOLVED, ...); the column ``dt`` is the Δt actually used (π/(3ΔE) by default).

Locking: a process holds ``OUT/.lock`` while it works. A second process started on the
same sweep cooperates (each chunk is claimed by one process through its own lock file);
one started on a different sweep is refused, and ``--overwrite`` is refused while another
process is still working in the directory.

Within a chunk the points are split across all local JAX devices (one worker thread per
device, ``jax.default_device``), so ``XLA_FLAGS=--xla_force_host_platform_device_count=K``
or several GPUs run sub-batches concurrently.

Multi-host: run one process per host with ``--process-index i --process-count P``
(or ``--distributed`` to call :func:`jax.distributed.initialize` and take both from
JAX). Process i computes chunks c with c % P == i into its own (or a shared) output
directory; ``jaxlmg merge DIR... --out OUT`` then checks the manifests agree and
assembles the result. See ``docs/multihost.md``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import sys
import time
import zipfile
from typing import Any, Callable

import numpy as np

try:  # POSIX advisory locks; without them (Windows) sweeps run unlocked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

AXES = ("n_spins", "field", "dephasing", "levels", "dt")
QUANTITIES = ("doublet", "k3", "threshold")
SPEC_KEYS = (*AXES, "quantities", "units", "protocol")
FILE_KEYS = (*SPEC_KEYS, "chunk")  # keys a sweep file may hold (chunk: points per chunk)
DOUBLET_FIELDS = ("delta_e", "gap_ratio_20", "gap_ratio_21", "jz2_e0", "jz2_e1", "g01", "j01", "g_loc", "eta_mf",
                  "eta_exact", "eta_quantum", "q01", "p0", "m_star")
ENERGY_FIELDS = ("delta_e",)
MANIFEST_VERSION = 2
#: Largest N a sweep or the command line accepts (the spectrum needs O(N) memory per point).
MAX_N_SPINS = 1_000_000


class SweepError(ValueError):
    """Invalid sweep specification or incompatible output directory."""


# ------------------------------------------------------------------------ strict JSON

def json_safe(obj: Any) -> Any:
    """Recursively replace non-finite floats by None and numpy scalars/arrays by Python values."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps_strict(obj: Any, **kw) -> str:
    """``json.dumps`` that never writes NaN/Infinity (they become null; RFC 8259 JSON)."""
    return json.dumps(json_safe(obj), allow_nan=False, **kw)


# ------------------------------------------------------------------------ progress

class Progress:
    """Progress with elapsed time and ETA on a stream.

    On a terminal one line is redrawn in place (``\\r``); otherwise (a log file, a pipe)
    plain lines are written, at most one per ``min_interval`` seconds plus the first and
    the last.
    """

    def __init__(self, total: float, label: str, stream=sys.stderr, *, unit: str = "chunks",
                 min_interval: float = 2.0):
        self.total, self.label, self.stream, self.unit = total, label, stream, unit
        self.min_interval = min_interval
        self.t0 = time.time()
        self._last = -math.inf
        self._start_done = None
        try:
            self.tty = bool(stream is not None and stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False

    @staticmethod
    def _fmt_s(sec: float) -> str:
        sec = max(0.0, sec)
        if sec < 60:
            return f"{sec:.0f}s"
        if sec < 3600:
            return f"{sec // 60:.0f}m{sec % 60:02.0f}s"
        return f"{sec // 3600:.0f}h{(sec % 3600) // 60:02.0f}m"

    def update(self, done: float, note: str = "") -> None:
        if self.stream is None:
            return
        now = time.time()
        if self._start_done is None:
            self._start_done = done  # work found already done does not count for the rate
        final = done >= self.total
        if not self.tty and not final and now - self._last < self.min_interval:
            return
        self._last = now
        el = now - self.t0
        frac = done / self.total if self.total else 1.0
        worked = done - self._start_done
        if final:
            eta = "done"
        elif worked > 0:
            eta = "ETA " + self._fmt_s(el / worked * (self.total - done))
        else:
            eta = "ETA unknown"
        count = f"{done:g}/{self.total:g} {self.unit}" if self.unit else f"{100 * frac:.0f}%"
        text = f"[{self.label}] {count} ({100 * frac:.0f}%), elapsed {self._fmt_s(el)}, {eta}"
        if note:
            text += f" — {note}"
        if self.tty:
            self.stream.write("\r" + text + "\033[K" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


# ------------------------------------------------------------------------ grid

def _scalar_ok(v) -> bool:
    return isinstance(v, (int, float, str)) and not isinstance(v, bool)


def parse_values(name: str, text: Any, *, integer: bool = False) -> list:
    """'1,2,3', 'a:b:step' (inclusive), 'lin:a:b:num', 'geom:a:b:num' or a flat list."""
    if isinstance(text, bool) or (isinstance(text, (list, tuple)) and not all(_scalar_ok(v) for v in text)) \
            or not (_scalar_ok(text) or isinstance(text, (list, tuple))):
        raise SweepError(f"{name}: expected a number, a string such as '1,2,3' or a flat list of numbers; "
                         f"got {text!r}")
    if isinstance(text, (list, tuple)):
        parts = [str(v) for v in text]
    elif isinstance(text, (int, float)):
        parts = [repr(text)]
    else:
        parts = str(text).split(",")
    vals = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        try:
            bits = part.split(":")
            if bits[0] in ("lin", "geom") and len(bits) == 4:
                a, b, num = float(bits[1]), float(bits[2]), int(bits[3])
                if not 1 <= num <= 10**7:
                    raise ValueError
                vals += list((np.linspace if bits[0] == "lin" else np.geomspace)(a, b, num))
            elif len(bits) == 3:
                a, b, st = (float(x) for x in bits)
                if not (st > 0 and b >= a) or (b - a) / st > 10**7:
                    raise ValueError
                vals += list(np.arange(a, b + st * 1e-9, st))
            elif len(bits) == 1:
                vals.append(float(part))
            else:
                raise ValueError
        except (ValueError, OverflowError):
            raise SweepError(f"{name}: cannot parse {part!r} (use '1,2,3', 'start:stop:step', "
                             "'lin:a:b:num' or 'geom:a:b:num')") from None
    if not vals:
        raise SweepError(f"{name}: no values given")
    arr = np.asarray(vals, np.float64)
    if not np.all(np.isfinite(arr)):
        raise SweepError(f"{name}: values must be finite; got {text!r}")
    if integer:
        if np.any(arr != np.round(arr)):
            raise SweepError(f"{name}: values must be integers; got {text!r}")
        if np.any(np.abs(arr) > 2.0**53):
            big = arr[np.argmax(np.abs(arr))]
            raise SweepError(f"{name}: {big:.6g} is too large (values must be integers below 2^53)")
        return [int(v) for v in arr]
    return [float(v) for v in arr]


def load_spec_file(path: str) -> dict:
    """Read a sweep specification from a .toml or .json file (keys as the CLI flags).

    The file holds one flat table/object (optionally under a ``[sweep]`` table) whose
    values are numbers, strings or flat lists; unknown keys are rejected.
    """
    try:
        if path.endswith(".toml"):
            import tomllib

            with open(path, "rb") as fh:
                spec = tomllib.load(fh)
        else:
            with open(path, encoding="utf-8") as fh:
                spec = json.load(fh)
    except OSError as exc:
        raise SweepError(f"cannot read sweep file {path!r}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSON/TOML syntax
        raise SweepError(f"cannot parse sweep file {path!r}: {str(exc).splitlines()[0]}") from None
    if isinstance(spec, dict) and "sweep" in spec:
        if not isinstance(spec["sweep"], dict):
            raise SweepError(f"sweep file {path!r}: 'sweep' must be a table/object of sweep keys")
        if len(spec) > 1:
            extra = sorted(k for k in spec if k != "sweep")
            raise SweepError(f"sweep file {path!r}: unknown keys next to [sweep]: {', '.join(extra)}")
        spec = spec["sweep"]
    if not isinstance(spec, dict):
        raise SweepError(f"sweep file {path!r} must hold one table/object of sweep keys, not a {type(spec).__name__}")
    out = {}
    for k, v in spec.items():
        key = str(k).replace("-", "_")
        if key not in FILE_KEYS:
            raise SweepError(f"sweep file {path!r}: unknown key {k!r} (allowed: {', '.join(FILE_KEYS)})")
        if isinstance(v, dict) or (isinstance(v, list) and not all(_scalar_ok(x) for x in v)):
            raise SweepError(f"sweep file {path!r}: key {k!r} must be a number, a string or a flat list; "
                             f"got a nested {type(v).__name__}")
        if isinstance(v, bool):
            raise SweepError(f"sweep file {path!r}: key {k!r} must be a number or a string; got {v!r}")
        out[key] = v
    if "chunk" in out:
        c = out["chunk"]
        if not isinstance(c, int) or c < 1:
            raise SweepError(f"sweep file {path!r}: chunk must be an integer >= 1; got {c!r}")
    return out


def make_grid(spec: dict) -> dict:
    """Normalise a spec dict into the canonical grid description (with its hash)."""
    unknown = set(spec) - set(SPEC_KEYS)
    if unknown:
        raise SweepError(f"unknown sweep keys: {', '.join(sorted(unknown))} (allowed: {', '.join(SPEC_KEYS)})")
    if spec.get("n_spins") is None or spec.get("field") is None:
        raise SweepError("a sweep needs at least n_spins and field")
    q = spec.get("quantities", "doublet")
    if isinstance(q, str):
        q = q.split(",")
    if not isinstance(q, (list, tuple)) or not all(isinstance(s, str) for s in q):
        raise SweepError(f"quantities must be a comma list of {', '.join(QUANTITIES)}; got {q!r}")
    q = list(dict.fromkeys(s.strip() for s in q if s.strip()))
    bad = [s for s in q if s not in QUANTITIES]
    if bad or not q:
        raise SweepError(f"quantities must be a subset of {', '.join(QUANTITIES)}; got {', '.join(bad) or 'none'}")
    units = spec.get("units", "natural")
    if units not in ("natural", "bec"):
        raise SweepError(f"units must be 'natural' or 'bec'; got {units!r}")
    protocol = spec.get("protocol", "stationary")
    if protocol not in ("stationary", "sequential"):
        raise SweepError(f"protocol must be 'stationary' or 'sequential'; got {protocol!r}")
    axes = {
        "n_spins": parse_values("n_spins", spec["n_spins"], integer=True),
        "field": parse_values("field", spec["field"]),
        "dephasing": parse_values("dephasing", spec["dephasing"]) if spec.get("dephasing") is not None else [float("nan")],
        "levels": parse_values("levels", spec["levels"], integer=True) if spec.get("levels") is not None else [5],
        "dt": parse_values("dt", spec["dt"]) if spec.get("dt") is not None else [float("nan")],
    }
    if min(axes["n_spins"]) < 2 or max(axes["n_spins"]) > MAX_N_SPINS:
        bad_n = min(axes["n_spins"]) if min(axes["n_spins"]) < 2 else max(axes["n_spins"])
        raise SweepError(f"n_spins must be integers in [2, {MAX_N_SPINS}]; got {bad_n}")
    if min(axes["field"]) < 0:
        raise SweepError(f"field must be >= 0; got {min(axes['field'])}")
    if min(axes["levels"]) < 2 or max(axes["levels"]) > min(axes["n_spins"]) + 1:
        raise SweepError(f"levels must be integers in [2, N+1] = [2, {min(axes['n_spins']) + 1}]")
    if "k3" in q and np.isnan(axes["dephasing"][0]):
        raise SweepError("quantity k3 needs dephasing values (--dephasing)")
    if not np.isnan(axes["dephasing"][0]) and min(axes["dephasing"]) < 0:
        raise SweepError("dephasing must be >= 0")
    if not np.isnan(axes["dt"][0]) and min(axes["dt"]) <= 0:
        raise SweepError("dt must be > 0")
    size = int(np.prod([float(len(v)) for v in axes.values()]))
    if size > 10**10:
        raise SweepError(f"the grid has {size:.3g} points; at most 1e10")
    grid = {"version": MANIFEST_VERSION, "axes": axes, "quantities": q, "units": units, "protocol": protocol}
    grid["hash"] = grid_hash(grid)
    return grid


def _grid_from_json(grid: dict) -> dict:
    """Undo strict JSON (null → NaN on the float axes) for a grid read from a manifest."""
    g = dict(grid)
    g["axes"] = {a: [float("nan") if v is None else v for v in vals] for a, vals in grid["axes"].items()}
    return g


def grid_hash(grid: dict) -> str:
    body = {k: grid[k] for k in ("version", "axes", "quantities", "units", "protocol")}
    txt = dumps_strict(body, sort_keys=True)
    return hashlib.sha256(txt.encode()).hexdigest()[:16]


def grid_size(grid: dict) -> int:
    return int(np.prod([len(grid["axes"][a]) for a in AXES]))


def grid_points(grid: dict, start: int, stop: int) -> dict[str, np.ndarray]:
    """Axis values of flat points [start, stop) (C order over AXES)."""
    shape = [len(grid["axes"][a]) for a in AXES]
    idx = np.arange(start, stop)
    multi = np.unravel_index(idx, shape)
    out = {"index": idx}
    for a, m in zip(AXES, multi):
        vals = np.asarray(grid["axes"][a], np.int64 if a in ("n_spins", "levels") else np.float64)
        out[a] = vals[m]
    return out


# ------------------------------------------------------------------------ compute

def _unique_rows(*cols):
    keys = np.stack([np.asarray(c, np.float64) for c in cols], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    return uniq, inv.reshape(-1)


def compute_points(pts: dict, grid: dict) -> dict[str, np.ndarray]:
    """All requested quantities at the given points (library units → grid units).

    The result's ``dt`` is the Δt actually used (the default π/(3ΔE) where none was given).
    """
    from ._units import BEC

    bec = grid["units"] == "bec"
    J = BEC.coupling_rad_s
    n_pts = pts["index"].size
    out: dict[str, np.ndarray] = {}
    n, f, lv = pts["n_spins"], pts["field"], pts["levels"]
    g = pts["dephasing"] / J if bec else pts["dephasing"]
    dt = pts["dt"] * J if bec else pts["dt"]
    dt_used = None
    if "doublet" in grid["quantities"]:
        from ._observables import doublet_factors

        u, inv = _unique_rows(n, f)
        d = doublet_factors(u[:, 0].astype(np.int64), u[:, 1]).as_dict()
        for k in DOUBLET_FIELDS:
            v = np.asarray(d[k], np.float64)[inv]
            out[k] = v * J if (bec and k in ENERGY_FIELDS) else v
        out["status_doublet"] = np.asarray(d["status"], np.int64)[inv]
    if "k3" in grid["quantities"]:
        from ._leggett_garg import correlators

        res = {k: np.full(n_pts, np.nan) for k in ("k3", "c12", "c23", "c13", "dt")}
        st = np.zeros(n_pts, np.int64)
        for level in np.unique(lv):
            for has_dt in (False, True):
                sel = (lv == level) & (np.isfinite(dt) == has_dt)
                if not sel.any():
                    continue
                r = correlators(g[sel], n[sel], f[sel], levels=int(level), dt=dt[sel] if has_dt else None,
                                protocol=grid["protocol"])
                for k in res:
                    res[k][sel] = np.asarray(getattr(r, k))
                st[sel] = np.asarray(r.status)
        dt_used = res.pop("dt")
        out.update(res)
        out["status_k3"] = st
    if "threshold" in grid["quantities"]:
        from ._threshold import threshold

        thr = np.full(n_pts, np.nan)
        k0 = np.full(n_pts, np.nan)
        tdt = np.full(n_pts, np.nan)
        st = np.zeros(n_pts, np.int64)
        u, inv = _unique_rows(n, f, lv, np.nan_to_num(dt, nan=-1.0))
        for level in np.unique(u[:, 2]):
            for has_dt in (False, True):
                sel = (u[:, 2] == level) & ((u[:, 3] > 0) == has_dt)
                if not sel.any():
                    continue
                r = threshold(u[sel, 0].astype(np.int64), u[sel, 1], levels=int(level),
                              dt=u[sel, 3] if has_dt else None, protocol=grid["protocol"])
                rows = np.nonzero(sel)[0]
                for j, ur in enumerate(rows):
                    m = inv == ur
                    thr[m] = float(np.asarray(r.dephasing)[j])
                    k0[m] = float(np.asarray(r.k3_zero)[j])
                    tdt[m] = float(np.asarray(r.dt)[j])
                    st[m] = int(np.asarray(r.status)[j])
        out["threshold"] = thr * J if bec else thr
        out["k3_zero"] = k0
        out["status_threshold"] = st
        dt_used = tdt if dt_used is None else np.where(np.isfinite(dt_used), dt_used, tdt)
    if dt_used is not None:
        # the Δt actually used, in grid units; a requested value is kept where a point failed
        out["dt"] = np.where(np.isfinite(dt_used), dt_used / J if bec else dt_used, pts["dt"])
    return out


def _compute_parallel(pts: dict, grid: dict, devices) -> dict[str, np.ndarray]:
    """Split the points across devices; one worker thread per device."""
    import jax

    n_pts = pts["index"].size
    if len(devices) <= 1 or n_pts < 2:
        return compute_points(pts, grid)
    parts = [p for p in np.array_split(np.arange(n_pts), len(devices)) if p.size]

    def work(dev, sel):
        with jax.default_device(dev):
            return compute_points({k: v[sel] for k, v in pts.items()}, grid)

    with cf.ThreadPoolExecutor(len(parts)) as ex:
        results = list(ex.map(work, devices[: len(parts)], parts))
    return {k: np.concatenate([r[k] for r in results]) for k in results[0]}


# ------------------------------------------------------------------------ files

def _fsync_write(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _atomic_savez(path: str, arrays: dict) -> str:
    """Write arrays atomically; returns the file's SHA-256."""
    data = _npz_bytes(arrays)
    _fsync_write(path, data)
    return hashlib.sha256(data).hexdigest()


def _atomic_text(path: str, text: str) -> None:
    _fsync_write(path, text.encode("utf-8"))


def _sha256_file(path: str) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None


def chunk_path(out: str, c: int) -> str:
    return os.path.join(out, "chunks", f"chunk_{c:06d}.npz")


@contextlib.contextmanager
def _flock(path: str, mode: str = "ex", *, blocking: bool = True):
    """Advisory lock on ``path`` (created if needed). Yields True if taken, False if busy."""
    if fcntl is None:  # pragma: no cover
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        op = fcntl.LOCK_EX if mode == "ex" else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, op | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _read_manifest(out: str) -> dict | None:
    mpath = os.path.join(out, "manifest.json")
    if not os.path.exists(mpath):
        return None
    try:
        with open(mpath, encoding="utf-8") as fh:
            m = json.load(fh)
        if not isinstance(m, dict) or "hash" not in m or "grid" not in m:
            raise ValueError("not a sweep manifest")
        m.setdefault("checksums", {})
        return m
    except (OSError, ValueError) as exc:
        raise SweepError(f"{mpath} is unreadable or not a jaxlmg sweep manifest ({str(exc).splitlines()[0]}); "
                         "use another --out or --overwrite") from None


def _write_manifest(out: str, manifest: dict) -> None:
    _atomic_text(os.path.join(out, "manifest.json"), dumps_strict(manifest, indent=1))


def _record_checksum(out: str, c: int, digest: str) -> None:
    with _flock(os.path.join(out, ".manifest.lock")):
        m = _read_manifest(out)
        m["checksums"][str(c)] = digest
        _write_manifest(out, m)


def _check_out_dir(out: str) -> None:
    if os.path.exists(out) and not os.path.isdir(out):
        raise SweepError(f"--out {out!r} exists and is not a directory")
    try:
        os.makedirs(os.path.join(out, "chunks"), exist_ok=True)
    except OSError as exc:
        raise SweepError(f"--out {out!r}: cannot create the directory: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK) or not os.access(os.path.join(out, "chunks"), os.W_OK | os.X_OK):
        raise SweepError(f"--out {out!r}: directory is not writable")


def prepare_output(out: str, grid: dict, chunk: int, *, overwrite: bool = False, busy_ok: bool = True) -> dict:
    """Create or validate ``out``; returns the manifest.

    A directory holding a different sweep is refused unless ``overwrite``; overwriting is
    refused while another process holds the directory's run lock (``busy_ok=False`` is
    used for that check by :func:`run_sweep`).
    """
    _check_out_dir(out)
    manifest = {"version": MANIFEST_VERSION, "grid": grid, "hash": grid["hash"], "chunk": int(chunk),
                "n_points": grid_size(grid), "n_chunks": -(-grid_size(grid) // int(chunk)), "checksums": {}}
    with _flock(os.path.join(out, ".manifest.lock")):
        try:
            old = _read_manifest(out)
        except SweepError:
            if not overwrite:
                raise
            old = {"hash": None, "chunk": None}
        if old is not None and old.get("hash") == grid["hash"] and old.get("chunk") == int(chunk):
            return old
        if old is not None:
            if not overwrite:
                raise SweepError(f"{out} holds a different sweep (grid hash {old.get('hash')}, chunk {old.get('chunk')}); "
                                 "use another --out or --overwrite")
            if not busy_ok:
                raise SweepError(f"{out} is in use by another jaxlmg sweep process; not overwriting it")
            for f in os.listdir(os.path.join(out, "chunks")):
                os.remove(os.path.join(out, "chunks", f))
            for f in ("results.npz", "results.csv"):
                if os.path.exists(os.path.join(out, f)):
                    os.remove(os.path.join(out, f))
        _write_manifest(out, manifest)
    return manifest


def verify_chunk(out: str, c: int, manifest: dict, *, n_expected: int | None = None) -> str | None:
    """None when chunk ``c`` is present and matches its checksum; else why it is not usable."""
    p = chunk_path(out, c)
    if not os.path.exists(p):
        return "missing"
    want = manifest.get("checksums", {}).get(str(c))
    got = _sha256_file(p)
    if want is None:
        return "has no recorded checksum (interrupted run or copied in by hand)"
    if got != want:
        return "does not match its recorded SHA-256 (truncated, corrupted or modified)"
    return None


def _load_chunk(path: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SweepError(f"chunk file {path} is truncated or corrupted ({type(exc).__name__}); "
                         "delete it and rerun the sweep") from None


def run_sweep(grid: dict, out: str, *, chunk: int = 256, process_index: int = 0, process_count: int = 1,
              overwrite: bool = False, progress_stream=sys.stderr, devices=None,
              delay: float = 0.0, on_chunk: Callable[[int], None] | None = None, log=...) -> dict:
    """Compute every missing chunk this process owns; assemble when the grid is complete.

    Chunks already on disk are reused only if they match the SHA-256 recorded in the
    manifest; others are recomputed with a message on ``log``. Several processes may run
    the same sweep into one directory at once (each chunk is claimed by one of them).
    Returns a summary dict (chunks computed now, skipped, recomputed, complete, result paths).
    """
    import jax

    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise SweepError(f"chunk must be an integer >= 1; got {chunk!r}")
    if process_count < 1 or not 0 <= process_index < process_count:
        raise SweepError(f"process index must be in [0, {process_count - 1}]; got {process_index}")
    log = sys.stderr if log is ... else log  # resolved now: sys.stderr may have been replaced
    say = (lambda m: None) if log is None else (lambda m: (log.write(f"jaxlmg sweep: {m}\n"), log.flush()))
    _check_out_dir(out)
    os.makedirs(os.path.join(out, ".locks"), exist_ok=True)
    run_fd = os.open(os.path.join(out, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        busy = False
        if fcntl is not None:
            if overwrite:
                try:
                    fcntl.flock(run_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    busy = True
            if not busy and not overwrite:
                try:
                    fcntl.flock(run_fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:  # someone is overwriting the directory right now
                    raise SweepError(f"{out} is being overwritten by another jaxlmg sweep process") from None
        manifest = prepare_output(out, grid, chunk, overwrite=overwrite, busy_ok=not busy)
        if fcntl is not None:
            fcntl.flock(run_fd, fcntl.LOCK_SH)  # from here on: cooperate with the same sweep
        return _run_chunks(grid, out, manifest, process_index, process_count, progress_stream, devices, delay,
                           on_chunk, say, jax)
    finally:
        os.close(run_fd)


def _run_chunks(grid, out, manifest, process_index, process_count, progress_stream, devices, delay, on_chunk,
                say, jax) -> dict:
    chunk, n_points, n_chunks = manifest["chunk"], manifest["n_points"], manifest["n_chunks"]
    mine = [c for c in range(n_chunks) if c % process_count == process_index]
    devices = devices or jax.local_devices()
    prog = Progress(len(mine), "sweep", progress_stream)
    computed = recomputed = 0
    state = {}
    for c in mine:
        state[c] = verify_chunk(out, c, manifest)
    done = sum(v is None for v in state.values())
    prog.update(done)
    waiting = []

    def compute(c):
        nonlocal computed
        start, stop = c * chunk, min((c + 1) * chunk, n_points)
        pts = grid_points(grid, start, stop)
        res = _compute_parallel(pts, grid, devices)
        digest = _atomic_savez(chunk_path(out, c), {**pts, **res})
        _record_checksum(out, c, digest)
        computed += 1

    def settle(c) -> bool:
        """Verify chunk c (under its lock) and compute it unless it is valid; True if computed."""
        nonlocal recomputed
        why = verify_chunk(out, c, _read_manifest(out))
        if why is None:
            return False
        if why != "missing":
            say(f"chunk {c} {why}; recomputing it")
            recomputed += 1
        compute(c)
        return True

    for c in mine:
        if state[c] is None:
            continue
        with _flock(os.path.join(out, ".locks", f"chunk_{c:06d}.lock"), blocking=False) as mine_now:
            if not mine_now:  # another process on the same sweep is computing it
                waiting.append(c)
                continue
            if not settle(c):  # it may have finished meanwhile
                done += 1
                prog.update(done)
                continue
        done += 1
        prog.update(done)
        if on_chunk:
            on_chunk(c)
        if delay:
            time.sleep(delay)
    for c in waiting:  # wait for the other process, then check its work
        with _flock(os.path.join(out, ".locks", f"chunk_{c:06d}.lock")):
            settle(c)
        done += 1
        prog.update(done)
    final = _read_manifest(out)
    complete = all(verify_chunk(out, c, final) is None for c in range(n_chunks))
    summary = {"computed": computed, "skipped": len(mine) - computed, "recomputed": recomputed, "owned": len(mine),
               "n_chunks": n_chunks, "complete": complete, "files": []}
    if complete:
        summary["files"] = assemble(out)
    return summary


def _status_name(code) -> str:
    from ._status import Status

    try:
        return Status(int(code)).name
    except ValueError:
        return str(int(code))


def assemble(out: str, sources: list[str] | None = None) -> list[str]:
    """Concatenate all chunks (from ``out`` or the ``sources`` directories) into
    results.npz / results.csv, checking every chunk's SHA-256 and that every point appears
    exactly once. The CSV writes status names; the .npz keeps the integer codes."""
    manifest = _read_manifest(out)
    if manifest is None:
        raise SweepError(f"{out} is not a sweep directory (no manifest.json)")
    n_chunks, n_points = manifest["n_chunks"], manifest["n_points"]
    dirs = sources or [out]
    manifests = {d: (manifest if d == out else _read_manifest(d)) for d in dirs}
    parts = []
    for c in range(n_chunks):
        reasons = {d: verify_chunk(d, c, manifests[d]) for d in dirs if manifests[d] is not None}
        good = [d for d, why in reasons.items() if why is None]
        if not good:
            bad = {d: why for d, why in reasons.items() if why != "missing"}
            if bad:
                d, why = next(iter(bad.items()))
                raise SweepError(f"chunk {c} in {d} {why}; rerun the sweep there to recompute it")
            raise SweepError(f"chunk {c} is missing (looked in {', '.join(dirs)}); run the remaining processes first")
        parts.append(_load_chunk(chunk_path(good[0], c)))
    keys = list(parts[0])
    if any(list(p) != keys for p in parts):
        raise SweepError("chunks hold different columns (written by different jaxlmg versions?); rerun the sweep")
    data = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    idx = data["index"]
    if idx.size != n_points or not np.array_equal(np.sort(idx), np.arange(n_points)):
        raise SweepError("assembled chunks do not cover the grid exactly once")
    order = np.argsort(idx, kind="stable")
    data = {k: v[order] for k, v in data.items()}
    npz = os.path.join(out, "results.npz")
    _atomic_savez(npz, data)
    cols = ["index", *AXES] + [k for k in data if k not in ("index", *AXES)]
    csv_path = os.path.join(out, "results.csv")
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(cols)
    fmt = []
    for c in cols:
        if c.startswith("status"):
            fmt.append(lambda v: _status_name(v))
        elif data[c].dtype.kind == "f":
            fmt.append(lambda v: repr(float(v)))
        else:
            fmt.append(lambda v: v.item())
    for i in range(idx.size):
        w.writerow([f(data[c][i]) for f, c in zip(fmt, cols)])
    _atomic_text(csv_path, buf.getvalue())
    return [npz, csv_path]


def merge(dirs: list[str], out: str) -> list[str]:
    """Merge per-process sweep directories (same grid hash) into ``out``."""
    manifests = []
    for d in dirs:
        m = _read_manifest(d)
        if m is None:
            raise SweepError(f"{d} is not a sweep directory (no manifest.json)")
        manifests.append(m)
    hashes = {(m["hash"], m["chunk"]) for m in manifests}
    if len(hashes) != 1:
        raise SweepError("the directories hold different sweeps (grid hash or chunk size differ)")
    m = manifests[0]
    prepare_output(out, _grid_from_json(m["grid"]), m["chunk"])
    return assemble(out, sources=list(dict.fromkeys([*dirs, out])))
