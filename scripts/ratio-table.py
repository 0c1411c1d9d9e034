#!/usr/bin/env python3
"""Prints issue 6's ratio table from a bench.sh report (report.md): per mode and transport, the
target's rate and its ratios to node-socketio (bench.sh's median of per-round ratios) and to
node-socketio-redis (ratio of the two medians), with the latency ratio and the bound.

Usage: scripts/ratio-table.py REPORT.md [TARGET]   (TARGET defaults to "serverless")
"""
import re
import sys


def tables(text):
    """Yields (section title, header cells, {target: row cells}) for each table of the report."""
    title, header, rows = None, None, {}
    for line in text.splitlines() + [""]:
        if re.match(r"^(connect|echo|fanout) / ", line):
            title = line.split("  ")[0].strip()
            header, rows = None, {}
        elif line.startswith("|") and title:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not set(cells[0]) <= set("-: "):
                rows[cells[0]] = cells
        elif header is not None:
            yield title, header, rows
            title, header, rows = None, None, {}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    target = sys.argv[2] if len(sys.argv) > 2 else "serverless"
    with open(sys.argv[1]) as f:
        text = f.read()
    print(f"| mode / transport | {target} | ×node-socketio | ×node-socketio-redis | ×ref p99 (lower is better) | bound |")
    print("|---|---:|---:|---:|---:|---|")
    for title, header, rows in tables(text):
        if target not in rows:
            continue
        ours = rows[target]
        rate = next(i for i, h in enumerate(header) if h.startswith("×ref") and "p99" not in h)
        p99 = next(i for i, h in enumerate(header) if h == "×ref p99")
        # The rate column is the first numeric column after "spread%".
        col = header.index("spread%") + 1
        if title.startswith("fanout"):
            col = next(i for i, h in enumerate(header) if h == "deliv/s")
        redis = ""
        if "node-socketio-redis" in rows:
            theirs = float(rows["node-socketio-redis"][col])
            if theirs > 0:
                redis = f"{float(ours[col]) / theirs:.2f}"
        print(f"| {title} | {ours[col]} {header[col]} | {ours[rate]} | {redis} | {ours[p99]} | {ours[-1]} |")


if __name__ == "__main__":
    main()
