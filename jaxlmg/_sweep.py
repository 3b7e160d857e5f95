r"""Resumable, chunked, device-parallel parameter sweeps (``jaxlmg sweep``).

A sweep is the Cartesian grid N × Γ/J × γφ × levels × Δt (C order, axes that are not
given have one value). The flat grid is cut into chunks of ``chunk`` points; each chunk
is computed, then written atomically (temporary file + ``os.replace``) to
``OUT/chunks/chunk_XXXXXX.npz``. ``OUT/manifest.json`` records the grid, the requested
quantities and their hash. Rerunning the same command skips every chunk already on disk,
so a run killed at any moment (SIGINT or SIGKILL) finishes with every point computed
exactly once; when all chunks exist they are assembled into ``OUT/results.npz`` and
``OUT/results.csv``.

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
import csv
import hashlib
import json
import os
import sys
import time
from typing import Any, Callable

import numpy as np

AXES = ("n_spins", "field", "dephasing", "levels", "dt")
QUANTITIES = ("doublet", "k3", "threshold")
DOUBLET_FIELDS = ("delta_e", "gap_ratio_20", "gap_ratio_21", "jz2_e0", "jz2_e1", "g01", "j01", "g_loc", "eta_mf",
                  "eta_exact", "eta_quantum", "q01", "p0", "m_star")
ENERGY_FIELDS = ("delta_e",)
MANIFEST_VERSION = 1


class SweepError(ValueError):
    """Invalid sweep specification or incompatible output directory."""


# ------------------------------------------------------------------------ grid

def parse_values(name: str, text: Any, *, integer: bool = False) -> list:
    """'1,2,3', 'a:b:step' (inclusive), 'lin:a:b:num', 'geom:a:b:num' or a list."""
    if isinstance(text, (list, tuple)):
        vals = [float(v) for v in text]
    elif isinstance(text, (int, float)):
        vals = [float(text)]
    else:
        vals = []
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                bits = part.split(":")
                if bits[0] in ("lin", "geom") and len(bits) == 4:
                    a, b, num = float(bits[1]), float(bits[2]), int(bits[3])
                    if num < 1:
                        raise ValueError
                    vals += list((np.linspace if bits[0] == "lin" else np.geomspace)(a, b, num))
                elif len(bits) == 3:
                    a, b, st = (float(x) for x in bits)
                    if st <= 0 or b < a:
                        raise ValueError
                    vals += list(np.arange(a, b + st * 1e-9, st))
                elif len(bits) == 1:
                    vals.append(float(part))
                else:
                    raise ValueError
            except ValueError:
                raise SweepError(f"{name}: cannot parse {part!r} (use '1,2,3', 'start:stop:step', "
                                 "'lin:a:b:num' or 'geom:a:b:num')") from None
    if not vals:
        raise SweepError(f"{name}: no values given")
    arr = np.asarray(vals, np.float64)
    if not np.all(np.isfinite(arr)):
        raise SweepError(f"{name}: values must be finite")
    if integer:
        if np.any(arr != np.round(arr)):
            raise SweepError(f"{name}: values must be integers; got {text!r}")
        return [int(v) for v in arr]
    return [float(v) for v in arr]


def load_spec_file(path: str) -> dict:
    """Read a sweep specification from a .toml or .json file (keys as the CLI flags)."""
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
    except Exception as exc:  # noqa: BLE001 - parse errors
        raise SweepError(f"cannot parse sweep file {path!r}: {exc}") from None
    spec = spec.get("sweep", spec)
    if not isinstance(spec, dict):
        raise SweepError(f"sweep file {path!r} must hold a table/object")
    return {k.replace("-", "_"): v for k, v in spec.items()}


def make_grid(spec: dict) -> dict:
    """Normalise a spec dict into the canonical grid description (with its hash)."""
    unknown = set(spec) - set(AXES) - {"quantities", "units", "protocol", "chunk"}
    if unknown:
        raise SweepError(f"unknown sweep keys: {', '.join(sorted(unknown))}")
    if "n_spins" not in spec or "field" not in spec:
        raise SweepError("a sweep needs at least n_spins and field")
    q = spec.get("quantities", "doublet")
    q = [s.strip() for s in (q.split(",") if isinstance(q, str) else q) if s.strip()]
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
    if min(axes["n_spins"]) < 2:
        raise SweepError("n_spins must be >= 2")
    if min(axes["field"]) < 0:
        raise SweepError("field must be >= 0")
    if min(axes["levels"]) < 2 or max(axes["levels"]) > min(axes["n_spins"]) + 1:
        raise SweepError(f"levels must be integers in [2, N+1] = [2, {min(axes['n_spins']) + 1}]")
    if "k3" in q and np.isnan(axes["dephasing"][0]):
        raise SweepError("quantity k3 needs dephasing values (--dephasing)")
    if not np.isnan(axes["dephasing"][0]) and min(axes["dephasing"]) < 0:
        raise SweepError("dephasing must be >= 0")
    if not np.isnan(axes["dt"][0]) and min(axes["dt"]) <= 0:
        raise SweepError("dt must be > 0")
    grid = {"version": MANIFEST_VERSION, "axes": axes, "quantities": q, "units": units, "protocol": protocol}
    grid["hash"] = grid_hash(grid)
    return grid


def grid_hash(grid: dict) -> str:
    body = {k: grid[k] for k in ("version", "axes", "quantities", "units", "protocol")}
    txt = json.dumps(body, sort_keys=True, default=lambda x: None if x != x else x).replace("NaN", "null")
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
    """All requested quantities at the given points (library units → grid units)."""
    from ._units import BEC

    bec = grid["units"] == "bec"
    J = BEC.coupling_rad_s
    n_pts = pts["index"].size
    out: dict[str, np.ndarray] = {}
    n, f, lv = pts["n_spins"], pts["field"], pts["levels"]
    g = pts["dephasing"] / J if bec else pts["dephasing"]
    dt = pts["dt"] * J if bec else pts["dt"]
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

        res = {k: np.full(n_pts, np.nan) for k in ("k3", "c12", "c23", "c13")}
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
        out.update(res)
        out["status_k3"] = st
    if "threshold" in grid["quantities"]:
        from ._threshold import threshold

        thr = np.full(n_pts, np.nan)
        k0 = np.full(n_pts, np.nan)
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
                    st[m] = int(np.asarray(r.status)[j])
        out["threshold"] = thr * J if bec else thr
        out["k3_zero"] = k0
        out["status_threshold"] = st
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

def _atomic_savez(path: str, arrays: dict) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _atomic_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def chunk_path(out: str, c: int) -> str:
    return os.path.join(out, "chunks", f"chunk_{c:06d}.npz")


def prepare_output(out: str, grid: dict, chunk: int, *, overwrite: bool = False) -> dict:
    """Create or validate ``out``; returns the manifest."""
    os.makedirs(os.path.join(out, "chunks"), exist_ok=True)
    mpath = os.path.join(out, "manifest.json")
    manifest = {"grid": grid, "hash": grid["hash"], "chunk": int(chunk), "n_points": grid_size(grid),
                "n_chunks": -(-grid_size(grid) // int(chunk))}
    if os.path.exists(mpath):
        with open(mpath, encoding="utf-8") as fh:
            old = json.load(fh)
        if old.get("hash") != grid["hash"] or old.get("chunk") != int(chunk):
            if not overwrite:
                raise SweepError(f"{out} holds a different sweep (grid hash {old.get('hash')}, chunk {old.get('chunk')}); "
                                 "use another --out or --overwrite")
            for f in os.listdir(os.path.join(out, "chunks")):
                os.remove(os.path.join(out, "chunks", f))
            for f in ("results.npz", "results.csv"):
                if os.path.exists(os.path.join(out, f)):
                    os.remove(os.path.join(out, f))
        else:
            return old
    _atomic_text(mpath, json.dumps(manifest, indent=1))
    return manifest


def _progress(done: int, total: int, t0: float, stream) -> None:
    if stream is None:
        return
    width = 30
    fill = int(width * done / max(total, 1))
    el = time.time() - t0
    stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} chunks  {el:6.1f}s")
    if done == total:
        stream.write("\n")
    stream.flush()


def run_sweep(grid: dict, out: str, *, chunk: int = 256, process_index: int = 0, process_count: int = 1,
              overwrite: bool = False, progress_stream=sys.stderr, devices=None,
              delay: float = 0.0, on_chunk: Callable[[int], None] | None = None) -> dict:
    """Compute every missing chunk this process owns; assemble when the grid is complete.

    Returns a summary dict (chunks computed now, skipped, complete, result paths).
    """
    import jax

    if chunk < 1:
        raise SweepError("chunk must be >= 1")
    if process_count < 1 or not 0 <= process_index < process_count:
        raise SweepError(f"process index must be in [0, {process_count - 1}]; got {process_index}")
    manifest = prepare_output(out, grid, chunk, overwrite=overwrite)
    n_points = manifest["n_points"]
    n_chunks = manifest["n_chunks"]
    mine = [c for c in range(n_chunks) if c % process_count == process_index]
    todo = [c for c in mine if not os.path.exists(chunk_path(out, c))]
    devices = devices or jax.local_devices()
    t0 = time.time()
    done = len(mine) - len(todo)
    _progress(done, len(mine), t0, progress_stream)
    for c in todo:
        start, stop = c * chunk, min((c + 1) * chunk, n_points)
        pts = grid_points(grid, start, stop)
        res = _compute_parallel(pts, grid, devices)
        _atomic_savez(chunk_path(out, c), {**pts, **res})
        done += 1
        _progress(done, len(mine), t0, progress_stream)
        if on_chunk:
            on_chunk(c)
        if delay:
            time.sleep(delay)
    summary = {"computed": len(todo), "skipped": len(mine) - len(todo), "owned": len(mine), "n_chunks": n_chunks,
               "complete": all(os.path.exists(chunk_path(out, c)) for c in range(n_chunks)), "files": []}
    if summary["complete"]:
        summary["files"] = assemble(out)
    return summary


def assemble(out: str, sources: list[str] | None = None) -> list[str]:
    """Concatenate all chunks (from ``out`` or the ``sources`` directories) into
    results.npz / results.csv, checking every point appears exactly once."""
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as fh:
        manifest = json.load(fh)
    n_chunks, n_points = manifest["n_chunks"], manifest["n_points"]
    dirs = sources or [out]
    parts = []
    for c in range(n_chunks):
        found = [d for d in dirs if os.path.exists(chunk_path(d, c))]
        if not found:
            raise SweepError(f"chunk {c} is missing (looked in {', '.join(dirs)}); run the remaining processes first")
        with np.load(chunk_path(found[0], c)) as z:
            parts.append({k: z[k] for k in z.files})
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    idx = data["index"]
    if idx.size != n_points or not np.array_equal(np.sort(idx), np.arange(n_points)):
        raise SweepError("assembled chunks do not cover the grid exactly once")
    order = np.argsort(idx, kind="stable")
    data = {k: v[order] for k, v in data.items()}
    npz = os.path.join(out, "results.npz")
    _atomic_savez(npz, data)
    cols = ["index", *AXES] + [k for k in data if k not in ("index", *AXES)]
    csv_path = os.path.join(out, "results.csv")
    tmp = f"{csv_path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i in range(idx.size):
            w.writerow([repr(data[c][i].item()) if data[c].dtype.kind == "f" else data[c][i].item() for c in cols])
    os.replace(tmp, csv_path)
    return [npz, csv_path]


def merge(dirs: list[str], out: str) -> list[str]:
    """Merge per-process sweep directories (same grid hash) into ``out``."""
    manifests = []
    for d in dirs:
        p = os.path.join(d, "manifest.json")
        if not os.path.exists(p):
            raise SweepError(f"{d} is not a sweep directory (no manifest.json)")
        with open(p, encoding="utf-8") as fh:
            manifests.append(json.load(fh))
    hashes = {(m["hash"], m["chunk"]) for m in manifests}
    if len(hashes) != 1:
        raise SweepError("the directories hold different sweeps (grid hash or chunk size differ)")
    m = manifests[0]
    prepare_output(out, m["grid"], m["chunk"])
    return assemble(out, sources=list(dict.fromkeys([*dirs, out])))
