"""The figure of a run: drain throughput of the four contenders, and latency at the fixed rate."""

from __future__ import annotations

from pathlib import Path

from harness.bench.results import NAMES, Report, candidate


def plot(report: Report, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.1, 1]})
    labels, rates, colors = [], [], []
    if report.ceiling:
        labels.append(NAMES["kafka"])
        rates.append(report.ceiling.rate)
        colors.append("#9e9e9e")
    if report.generator:
        labels.append("generator (produce rate)")
        rates.append(report.generator.rate)
        colors.append("#cfcfcf")
    palette = {"pipeline": "#1f77b4", "seed": "#ff7f0e", "python": "#2ca02c"}
    for label in ("pipeline", "seed", "python"):
        drain = report.drains.get(label)
        if drain:
            labels.append(NAMES[label] + ("" if drain.exact else " (NOT EXACT)"))
            rates.append(drain.rate)
            colors.append(palette[label] if drain.exact else "#d62728")
    positions = list(range(len(labels)))
    left.barh(positions, rates, color=colors)
    left.set_yticks(positions, labels)
    left.invert_yaxis()
    fastest_naive = max(
        (d.rate for k, d in report.drains.items() if k != "pipeline" and d.exact), default=None
    )
    if fastest_naive:
        target = 2 * fastest_naive
        left.axvline(target, color="black", linestyle="--", linewidth=1)
        left.text(target, len(labels) - 0.5, " target: 2 x the faster naive design", va="bottom", fontsize=8)
    for y, rate in zip(positions, rates, strict=True):
        left.text(rate, y, f" {rate:,.0f}", va="center", fontsize=8)
    left.set_xlabel("events per second (backlog drain until Cassandra equals the ledger)")
    left.set_title(f"Throughput, {report.generator.events:,} events" if report.generator else "Throughput")
    left.set_xscale("log")
    left.xaxis.set_major_formatter(FuncFormatter(_short))
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlim(right=max(rates, default=1) * 3)

    groups = [(label, live) for label, live in report.latency.items()]
    best = report.best_live()
    if best is not None and best is not report.latency.get("pipeline"):
        groups.append(("pipeline near max", best))
    width = 0.25
    for i, (quantile, attr) in enumerate((("p50", "p50_s"), ("p95", "p95_s"), ("p99", "p99_s"))):
        values = [getattr(live.latency, attr) or 0.0 for _, live in groups]
        xs = [n + (i - 1) * width for n in range(len(groups))]
        right.bar(xs, values, width, label=quantile)
    names = [
        f"{NAMES.get(label, label).split(' (')[0]}\n{live.achieved_rate:,.0f}/s"
        + ("" if live.kept_up else "\n(fell behind)")
        for label, live in groups
    ]
    right.set_xticks(range(len(groups)), names, fontsize=8)
    # In the legend: a label on the line itself lands on the bars.
    right.axhline(1.0, color="black", linestyle="--", linewidth=1, label="target p99 1 s")
    right.set_ylabel("seconds from producer ack to visible in Cassandra")
    right.set_title("End-to-end latency (first minute included)")
    right.legend()
    title = f"Tally benchmark: {report.machine.cores} cores, {report.machine.versions}"
    changed = candidate(report.settings)
    fig.suptitle(f"{title}\n{changed}" if changed else title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _short(value: float, _: object) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"
