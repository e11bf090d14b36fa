#!/usr/bin/env python3
"""Turns the portcullis-loadgen results of overload.sh into markdown tables and the target checks.

  overload_report.py MANIFEST

Each MANIFEST line is KIND<TAB>PROXY<TAB>LOAD<TAB>JSON: KIND is "main" (one class) or "priority"
(a low and a high class), LOAD the multiple of the capacity offered, JSON the loadgen output.
"""
import json
import sys

# The targets for portcullis with adaptive concurrency, at 4x against 1x.
GOODPUT_KEPT = 0.90
P99_GROWTH = 2.0
HIGH_SUCCESS = 0.99


def load_rows(manifest):
    rows = []
    with open(manifest) as f:
        for line in f:
            kind, proxy, load, path = line.rstrip("\n").split("\t")
            with open(path) as r:
                rows.append((kind, proxy, float(load), json.load(r)))
    return rows


def pct(x):
    return f"{100 * x:.1f}"


def ms(latency, key):
    return "–" if latency is None else f"{latency[key]:.1f}"


def ratio(a, b, digits=2):
    return "–" if a is None or not b else f"{a / b:.{digits}f}x"


def failed_cell(c):
    offered = max(c["offered"], 1)
    parts = [f"t {pct(c['timeouts'] / offered)}", f"d {pct(c['client_dropped'] / offered)}"]
    other = c["errors"] + c["other_status"]
    if other:
        parts.append(f"e {pct(other / offered)}")
    return f"{pct(c['failed_rate'])} ({', '.join(parts)})"


def p99(c):
    return None if c["latency_ms"] is None else c["latency_ms"]["p99"]


def main_table(rows):
    base = {proxy: r["total"] for kind, proxy, load, r in rows if kind == "main" and load == 1}
    out = [
        "| proxy | load | offered req/s | goodput req/s | goodput vs 1x | p50 ms | p99 ms | p99 vs 1x "
        "| success % | shed % (503/429) | failed % (timeouts, dropped, errors) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, proxy, load, r in rows:
        if kind != "main":
            continue
        c, b = r["total"], base.get(proxy)
        out.append(
            f"| {proxy} | {load:g}x | {r['rate']:.0f} | {c['goodput']:.0f} "
            f"| {ratio(c['goodput'], b and b['goodput'])} | {ms(c['latency_ms'], 'p50')} "
            f"| {ms(c['latency_ms'], 'p99')} | {ratio(p99(c), b and p99(b))} | {pct(c['success_rate'])} "
            f"| {pct(c['shed_rate'])} | {failed_cell(c)} |"
        )
    return "\n".join(out)


def priority_table(rows):
    out = [
        "| proxy | load | class | offered req/s | goodput req/s | success % | shed % | failed % | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, proxy, load, r in rows:
        if kind != "priority":
            continue
        for c in r["classes"]:
            offered = c["offered"] / (r["duration_s"] - r["warmup_s"])
            out.append(
                f"| {proxy} | {load:g}x | {c['name']} ({c['header']}) | {offered:.0f} | {c['goodput']:.0f} "
                f"| {pct(c['success_rate'])} | {pct(c['shed_rate'])} | {pct(c['failed_rate'])} "
                f"| {ms(c['latency_ms'], 'p50')} | {ms(c['latency_ms'], 'p99')} |"
            )
    return "\n".join(out)


def verdict(ok):
    return "met" if ok else "**missed**"


def high_priority(r, load):
    """The high class's success. Only where it alone fits in the capacity can nearly all of it
    succeed; beyond, the most a limiter can do is give it the whole capacity, which is what the
    share of the 1x rate it got tells."""
    high = next((c for c in r["classes"] if c["name"] == "high"), None)
    if high is None:
        return "no class named high"
    rate_1x = r["rate"] / load
    high_load = load * high["fraction"]
    text = f"high priority at {load:g}x: {pct(high['success_rate'])}% success"
    if high_load <= 1:
        return text + f" (target >= {pct(HIGH_SUCCESS)}%: {verdict(high['success_rate'] >= HIGH_SUCCESS)})"
    return text + (
        f", a goodput of {pct(high['goodput'] / rate_1x)}% of the 1x rate (the class alone is {high_load:g}x "
        f"the capacity: at most {pct(1 / high_load)}% of it can succeed, so the target applies at lower loads)"
    )


def checks(rows):
    """The targets, for every portcullis row set that has a 1x and a 4x run."""
    main = {(proxy, load): r for kind, proxy, load, r in rows if kind == "main"}
    prio = {(proxy, load): r for kind, proxy, load, r in rows if kind == "priority"}
    lines = []
    for proxy in dict.fromkeys(p for p, _ in main):
        if not proxy.startswith("portcullis") or (proxy, 1) not in main or (proxy, 4) not in main:
            continue
        one, four = main[(proxy, 1)]["total"], main[(proxy, 4)]["total"]
        kept = four["goodput"] / one["goodput"] if one["goodput"] else 0
        growth = p99(four) / p99(one) if p99(four) is not None and p99(one) else float("inf")
        lines += [
            f"- {proxy}:",
            f"  - goodput at 4x is {pct(kept)}% of 1x (target >= {pct(GOODPUT_KEPT)}%: {verdict(kept >= GOODPUT_KEPT)})",
            f"  - p99 at 4x is {growth:.2f}x the 1x p99 (target <= {P99_GROWTH:g}x: {verdict(growth <= P99_GROWTH)})",
        ]
        lines += [f"  - {high_priority(r, load)}" for (p, load), r in sorted(prio.items()) if p == proxy]
    return "\n".join(lines)


def main():
    rows = load_rows(sys.argv[1])
    parts = [main_table(rows)]
    if any(kind == "priority" for kind, *_ in rows):
        parts += ["Half the requests low priority, half high:", priority_table(rows)]
    targets = checks(rows)
    if targets:
        parts += ["Targets (portcullis):", targets]
    print("\n\n".join(parts))


if __name__ == "__main__":
    main()
