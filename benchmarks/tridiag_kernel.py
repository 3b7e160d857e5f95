"""Benchmark: lowest-k eigenpairs of the W2 parity blocks (standalone script).

W2: lowest eigenpairs of the LMG Hamiltonian for every even N in 2..2000 at Γ/J = 0.95,
split into parity blocks (even: m = 0..N/2, odd: m = 1..N/2); k = 5 per block.

Compares, per size bucket (blocks padded with a big diagonal and zero coupling):
  * ``jaxlmg._tridiag.lowest_eigenpairs`` under ``jax.vmap`` (this kernel),
  * ``jaxlmg._eigen.tridiagonal_lowest(d, e, 5, "bisection")`` under ``jax.vmap`` (current),
  * a ``scipy.linalg.eigh_tridiagonal(select='i')`` loop over the unpadded blocks.
Compile time is measured separately; run times are best of ``--repeat``.

    python benchmarks/tridiag_kernel.py [--nmax 2000] [--k 5] [--bucket 128]
        [--repeat 3] [--skip-current] [--devices 2]

``--devices 2`` sets ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (before
jax is imported) and shards the batch over both CPU devices.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def w2_blocks(nmax: int = 2000, field: float = 0.95):
    """List of (d, e) numpy blocks, even and odd parity, for even N in 2..nmax."""
    out = []
    for n_spins in range(2, nmax + 1, 2):
        j = n_spins / 2.0
        m = np.arange(0, n_spins // 2 + 1, dtype=np.float64)
        de = -(2.0 / n_spins) * m**2
        ee = -field * np.sqrt(j * (j + 1.0) - m[:-1] * (m[:-1] + 1.0))
        ee[:1] *= np.sqrt(2.0)
        out.append((de, ee))
        mo = m[1:]
        do = -(2.0 / n_spins) * mo**2
        eo = -field * np.sqrt(j * (j + 1.0) - mo[:-1] * (mo[:-1] + 1.0))
        out.append((do, eo))
    return out


def bucketize(blocks, k, width):
    """Group blocks into buckets of padded size (multiples of ``width``, at least k)."""
    buckets = {}
    for idx, (d, e) in enumerate(blocks):
        n = len(d)
        size = max(k, int(np.ceil(n / width)) * width)
        buckets.setdefault(size, []).append(idx)
    out = []
    for size, idxs in sorted(buckets.items()):
        dd = np.empty((len(idxs), size))
        ee = np.zeros((len(idxs), size - 1))
        for r, i in enumerate(idxs):
            d, e = blocks[i]
            n = len(d)
            big = np.max(d) + 2.0 * np.sum(np.abs(e)) + 1.0  # above the spectrum
            dd[r, :n] = d
            dd[r, n:] = big
            ee[r, : n - 1] = e
        out.append((size, idxs, dd, ee))
    return out


def _best(fn, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--nmax", type=int, default=2000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--bucket", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-current", action="store_true")
    ap.add_argument("--devices", type=int, default=1)
    args = ap.parse_args(argv)
    if args.devices > 1:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={args.devices}"
        )
    import jax
    import jax.numpy as jnp
    import scipy.linalg as sl

    import jaxlmg  # noqa: F401  (enables x64)
    from jaxlmg._eigen import tridiagonal_lowest
    from jaxlmg._tridiag import lowest_eigenpairs

    k = args.k
    blocks = w2_blocks(args.nmax)
    groups = bucketize(blocks, k, args.bucket)
    n_el = sum(len(d) for d, _ in blocks)
    n_pad = sum(dd.size for _, _, dd, _ in groups)
    print(f"W2 blocks: {len(blocks)} matrices, {n_el} rows; {len(groups)} buckets "
          f"(width {args.bucket}), padded rows {n_pad} ({n_pad / n_el:.2f}x)")
    print(f"jax {jax.__version__}, devices: {jax.devices()}")

    new = jax.jit(jax.vmap(lambda d, e: lowest_eigenpairs(d, e, k)))
    cur = jax.jit(jax.vmap(lambda d, e: tridiagonal_lowest(d, e, k, "bisection")))

    if args.devices > 1:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

        mesh = Mesh(np.array(jax.devices()[: args.devices]), ("b",))
        shard = NamedSharding(mesh, P("b"))

        def place(dd, ee):
            b = dd.shape[0]
            padb = (-b) % args.devices  # pad the batch with copies of row 0
            if padb:
                dd = np.concatenate([dd, np.repeat(dd[:1], padb, 0)])
                ee = np.concatenate([ee, np.repeat(ee[:1], padb, 0)])
            return jax.device_put(dd, shard), jax.device_put(ee, shard)
    else:

        def place(dd, ee):
            return jnp.asarray(dd), jnp.asarray(ee)

    data = [(size, idxs, *place(dd, ee)) for size, idxs, dd, ee in groups]

    def run_all(fn):
        outs = [fn(dd, ee) for _, _, dd, ee in data]
        jax.block_until_ready(outs)
        return outs

    results = {}
    for name, fn in [("new", new)] + ([] if args.skip_current else [("current", cur)]):
        t0 = time.perf_counter()
        outs = run_all(fn)
        t_first = time.perf_counter() - t0
        t_run = _best(lambda: run_all(fn), args.repeat)
        results[name] = (outs, t_first - t_run, t_run)
        print(f"{name:8s}: compile+first-run overhead {t_first - t_run:7.3f} s, run {t_run:7.4f} s")

    def scipy_all():
        ws = []
        for d, e in blocks:
            kk = min(k, len(d))
            if len(d) == 1:
                ws.append((d[:1], np.ones((1, 1))))
            else:
                ws.append(sl.eigh_tridiagonal(d, e, select="i", select_range=(0, kk - 1)))
        return ws

    t_sp = _best(scipy_all, args.repeat)
    ref = scipy_all()
    print(f"scipy   : run {t_sp:7.4f} s (eigh_tridiagonal select='i' loop, eigenpairs)")

    for name, (outs, _, t_run) in results.items():
        dev_w = 0.0
        rel_w = 0.0
        worst_res = 0.0
        worst_orth = 0.0
        for (size, idxs, _, _), (w, v) in zip(data, outs):
            w = np.asarray(w)
            v = np.asarray(v)
            for r, i in enumerate(idxs):
                d, e = blocks[i]
                n = len(d)
                kk = min(k, n)
                wr = ref[i][0]
                tn = np.max(np.abs(d)) + 2 * np.max(np.abs(e), initial=0.0)
                dev_w = max(dev_w, np.max(np.abs(w[r, :kk] - wr)))
                rel_w = max(rel_w, np.max(np.abs(w[r, :kk] - wr)) / (np.finfo(float).eps * tn))
                vv = v[r, :n, :kk]
                tv = d[:, None] * vv
                tv[:-1] += e[:, None] * vv[1:]
                tv[1:] += e[:, None] * vv[:-1]
                worst_res = max(worst_res, np.max(np.abs(tv - vv * w[r, :kk])) / tn)
                worst_orth = max(worst_orth, np.max(np.abs(vv.T @ vv - np.eye(kk))))
        print(f"{name:8s}: max|Δλ| vs scipy {dev_w:.2e} ({rel_w:.2f} eps·‖T‖), "
              f"max residual/‖T‖ {worst_res:.1e}, max orth err {worst_orth:.1e}; "
              f"speed-up vs scipy {t_sp / t_run:6.2f}x")
    if "current" in results:
        print(f"new vs current: {results['current'][2] / results['new'][2]:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
