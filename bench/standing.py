#!/usr/bin/python3
"""standing.py: where gort stands, from raw RESULT lines.

Reads the RESULT lines of bench/compare.sh and bench/gobench.sh runs (files
under docs/results/, or a build's results-*.txt and gobench-*.txt), takes
each figure's median over its runs, and prints one markdown table: every
workload of bench/metrics.tsv that has a gort figure, then every one of Go's
runtime benchmarks (gobench, ns/op), with Go, Boost.Fiber and Asio beside
gort and gort's ratio to each. With --svg it also draws the ratios to Go as
a chart (matplotlib: Debian's python3-matplotlib, hence Debian's python3
in the first line), cost ratios throughout:
for a figure where higher is better (items/s, requests/s) the ratio is
inverted, so that under 1 always means gort does better than Go.

The median is run.sh's: the middle value, or the mean of the middle two.
A ratio is taken between medians of the same files, which should come from
one run of compare.sh or gobench.sh (same machine, interleaved), as
docs/PERFORMANCE.md requires.

usage: bench/standing.py [--svg FILE] [--title TEXT] RESULTS...
"""

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

METRICS = Path(__file__).with_name("metrics.tsv")
OTHERS = [("go", "Go"), ("boostfiber", "Boost.Fiber"), ("asio", "Asio")]


def read_results(paths):
    """{(name, impl, field): [values]} from the RESULT lines of paths."""
    figures = defaultdict(list)
    for path in paths:
        for line in Path(path).read_text().splitlines():
            words = line.split()
            if not words or words[0] != "RESULT":
                continue
            kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            name, impl = kv.pop("name", None), kv.pop("impl", None)
            for field, value in kv.items():
                try:
                    x = float(value)
                except ValueError:
                    continue
                figures[(name, impl, field)].append(x)
    return figures


def read_metrics():
    """[(workload, field, label, higher_is_better)] in metrics.tsv's order."""
    rows = []
    for line in METRICS.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        workload, field, label, better, _table = line.split("\t")
        rows.append((workload, field, label, better == "higher"))
    return rows


def rows_of(figures):
    """Every row with a gort figure: (workload, label, higher, {impl: median})."""
    medians = {k: statistics.median(v) for k, v in figures.items()}
    rows = []
    for workload, field, label, higher in read_metrics():
        scale = 1 / 1024 if field == "rss_kb" else 1  # labelled in MiB, as run.sh does
        meds = {impl: medians.get((workload, impl, field)) for impl in ["gort"] + [i for i, _ in OTHERS]}
        meds = {impl: None if m is None else m * scale for impl, m in meds.items()}
        if meds["gort"] is not None:
            rows.append((workload, label, higher, meds))
    gobench = sorted({name for (name, impl, field) in medians if name.startswith("Benchmark") and field == "ns_op"})
    for name in gobench:
        meds = {impl: medians.get((name, impl, "ns_op")) for impl in ["gort"] + [i for i, _ in OTHERS]}
        if meds["gort"] is not None:
            rows.append((name, "ns/op", False, meds))
    return rows


def fmt(x):
    if x is None:
        return "—"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1000:
        return f"{x:.0f}"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def fmt_ratio(r):
    """As compare.sh: two decimals, two significant digits below 0.1."""
    if r is None:
        return "—"
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def ratio(meds, impl):
    g, o = meds["gort"], meds[impl]
    return None if g is None or not o else g / o


def cost_ratio(meds, higher):
    r = ratio(meds, "go")
    return None if r is None or r == 0 else (1 / r if higher else r)


def print_summary(rows):
    costs = [cost_ratio(m, h) for _, _, h, m in rows if cost_ratio(m, h) is not None]
    print(f"\ngort ÷ Go, as a cost: {sum(c < 1 for c in costs)} of {len(costs)} rows under 1, "
          f"{sum(1 <= c <= 1.05 for c in costs)} within 5% over, {sum(c > 1.05 for c in costs)} more than 5% over.")


def print_table(rows):
    present = [(i, t) for i, t in OTHERS if any(m[i] is not None for _, _, _, m in rows)]
    head = ["workload", "metric"] + [t for _, t in present] + ["gort"] + [f"gort ÷ {t}" for _, t in present]
    print("| " + " | ".join(head) + " |")
    print("|---|---|" + "--:|" * (len(head) - 2))
    for workload, label, higher, meds in rows:
        cells = [workload, label + (" (higher is better)" if higher else "")] + [fmt(meds[i]) for i, _ in present] + [fmt(meds["gort"])]
        cells += [fmt_ratio(ratio(meds, i)) for i, _ in present]
        print("| " + " | ".join(cells) + " |")


def draw(rows, path, title):
    import matplotlib

    matplotlib.use("agg")  # no display; savefig writes the SVG
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: a smaller, searchable file
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    shown = [(f"{w} ({l})", cost_ratio(m, h)) for w, l, h, m in rows if cost_ratio(m, h) is not None]
    shown.reverse()  # matplotlib draws the first bar at the bottom
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(shown) + 1.2))
    ax.barh([n for n, _ in shown], [r for _, r in shown],
            color=["#2a7" if r <= 1 else "#c43" for _, r in shown], height=0.7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ticks = [t for t in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5) if min(r for _, r in shown) / 1.5 <= t <= max(r for _, r in shown) * 1.5]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.margins(y=0.01)
    ax.set_xlabel("gort's cost ÷ Go's (time, memory, or Go's rate ÷ gort's); under 1: gort better")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--svg", help="draw the gort ÷ Go chart into this file")
    ap.add_argument("--title", default="gort ÷ Go, same-run medians", help="the chart's title")
    ap.add_argument("results", nargs="+", help="files with RESULT lines")
    args = ap.parse_args()
    rows = rows_of(read_results(args.results))
    if not rows:
        sys.exit("standing.py: no gort figures in " + " ".join(args.results))
    print_table(rows)
    print_summary(rows)
    if args.svg:
        draw(rows, args.svg, args.title)


if __name__ == "__main__":
    main()
