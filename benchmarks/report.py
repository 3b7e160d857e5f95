"""Markdown tables and scaling plots from a results dict (see harness.run)."""

from __future__ import annotations

from pathlib import Path


def _f(x, fmt="{:.3g}"):
    if x is None:
        return "–"
    try:
        return fmt.format(x)
    except (TypeError, ValueError):
        return str(x)


def markdown(rep: dict) -> str:
    m = rep["machine"]
    lines = [f"# jaxlmg benchmarks — {m['cpu_model']}" + (f" / {m['device']}" if m.get("backend") == "gpu" else ""),
             "",
             ("**Provisional**: taken on a shared machine; timings are noisy. " if rep.get("provisional") else "")
             + ("**Quick mode** (reduced grids: smoke test, not the goal workloads). " if rep.get("quick") else ""),
             "",
             f"- CPU: {m['cpu_model']}, {m['cores']} cores; load average at start {m.get('load_avg')}",
             f"- jax {m['jax']} (backend {m['backend']}, device {m['device']}), numpy {m['numpy']}, Python {m['python']}",
             f"- date {m['date']}",
             ""]
    lines += [f"- {n}" for n in rep.get("notes", [])]
    lines.append("")
    for w, e in rep["workloads"].items():
        lines += [f"## {w} — {e['title']}", "", f"{e['points']} points. Goal: {e['goal']}. "
                  f"**Result: {e['goal_check']['summary']}**", "",
                  "| implementation | BLAS threads | JAX cache | whole process (s) | import (s) | compile (s) | "
                  "steady (s) | peak RSS (MB) | steady ratio peer/jaxlmg | whole-process ratio | max rel. dev. vs jaxlmg | NaN points | notes |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in e["rows"]:
            if r.get("status") != "ok":
                lines.append(f"| {r.get('label', r.get('impl'))} | | | | | | | | | | | | {r.get('status')}: "
                             f"{str(r.get('note', '')).splitlines()[0][:200] if r.get('note') else ''} |")
                continue
            rat = r.get("ratio_vs_jaxlmg", {})
            ag = r.get("agreement") or {}
            steady = _f(r.get("steady_s"), "{:.4g}")
            if r.get("steady_extrapolated_s"):
                steady = f"{r['steady_extrapolated_s']:.4g} (extrapolated; measured {r['steady_s']:.3g} on a subset)"
            notes = "; ".join(r.get("notes") or [])
            if r.get("repeats") is not None:
                notes = (notes + "; " if notes else "") + f"best of {r['repeats']}"
            if r.get("info", {}).get("method"):
                notes += f"; {r['info']['method']}"
            lines.append(
                f"| {r['label']} | {r.get('blas_threads')} | {r.get('jax_cache', '–')} | {_f(r.get('whole_process_s'))} | "
                f"{_f(r.get('import_s'))} | {_f(r.get('compile_s'))} | {steady} | {_f(r.get('peak_rss_mb'), '{:.0f}')} | "
                f"{_f(rat.get('steady'), '{:.3g}×')} | {_f(rat.get('whole_process'), '{:.3g}×')} | "
                f"{_f(ag.get('max_rel_dev'), '{:.1e}')} | {r.get('nan_points', '–')} | {notes} |")
        lines.append("")
        if e.get("cli"):
            lines += ["Command line, whole process (cold: empty cache directory; warm: best of the repeats "
                      "that follow, reading the saved executable):", "",
                      "| query | cold (s) | warm (s) | all warm runs (s) | identical output | error |",
                      "|---|---|---|---|---|---|"]
            for c in e["cli"]:
                allw = ", ".join(f"{t:.2f}" for t in c.get("warm_all_s") or [])
                lines.append(f"| `{c['query']}` | {_f(c.get('cold_s'))} | {_f(c.get('warm_s'))} | {allw} | "
                             f"{c.get('same_output')} | {c.get('error') or ''} |")
            lines.append("")
    if rep.get("scaling"):
        lines += ["## Scaling", ""]
        for w, d in rep["scaling"].items():
            lines += [f"### {w}: steady time vs {'N (one N per call)' if w == 'W2' else 'grid points'}", "",
                      "| impl | " + " | ".join(["size", "points", "first (s)", "steady (s)"]) + " |",
                      "|---|---|---|---|---|"]
            for impl, v in d.items():
                for row in v.get("rows") or []:
                    lines.append(f"| {impl} | {row['size']} | {row['points']} | {row['first_s']:.3g} | {row['steady_s']:.3g} |")
                if v.get("note"):
                    lines.append(f"| {impl} | {v['note']} | | | |")
            lines.append("")
    return "\n".join(lines) + "\n"


def plots(rep: dict, out_dir, name: str):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    for w, d in (rep.get("scaling") or {}).items():
        fig, ax = plt.subplots(figsize=(5, 3.6))
        any_ = False
        for impl, v in d.items():
            rows = v.get("rows") or []
            if not rows:
                continue
            x = [r["size"] if w == "W2" else r["points"] for r in rows]
            ax.loglog(x, [r["steady_s"] for r in rows], "o-", label=f"{impl} (steady)")
            if impl == "jaxlmg":
                ax.loglog(x, [r["first_s"] for r in rows], "o--", alpha=0.5, label="jaxlmg (first call, incl. compile)")
            any_ = True
        if not any_:
            plt.close(fig)
            continue
        ax.set_xlabel("N (Dicke dimension N+1)" if w == "W2" else "threshold-map grid points")
        ax.set_ylabel("time (s)")
        ax.set_title(f"{w} scaling — {rep['machine']['cpu_model']}" + (" (quick)" if rep.get("quick") else ""),
                     fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(Path(out_dir) / f"{name}-scaling-{w}.png", dpi=120)
        plt.close(fig)
