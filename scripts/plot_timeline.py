#!/usr/bin/env python3
"""Draws a drain timeline (the CSV tests/flows_lab.rs writes when FLOWS_TIMELINE names a file) as an SVG:
connections each node holds over time (solid) and the flow table's entries for it (dashed), with the
drain and its timeout marked.

    plot_timeline.py TIMELINE.csv OUT.svg [TIMEOUT_S]
"""
import csv
import sys

W, H, L, R, T, B = 760, 380, 60, 150, 30, 50
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def main(src, out, timeout):
    rows = list(csv.DictReader(open(src)))
    ts = [float(r["t_s"]) for r in rows]
    nodes = [k[len("held_"):] for k in rows[0] if k.startswith("held_")]
    top = max(max(int(r[f"held_{n}"]), int(r[f"tracked_{n}"])) for r in rows for n in nodes)
    top = max(10, (top + 9) // 10 * 10)
    t0, t1 = min(ts), max(ts)
    x = lambda t: L + (t - t0) / (t1 - t0) * (W - L - R)
    y = lambda v: H - B - v / top * (H - T - B)
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="18" font-size="14">Connections per node through a drain of n2 (timeout {timeout:g} s)</text>']
    for v in range(0, top + 1, max(1, top // 5)):
        s.append(f'<line x1="{L}" x2="{W - R}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        s.append(f'<text x="{L - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    for t in range(int(t0), int(t1) + 1):
        s.append(f'<text x="{x(t):.1f}" y="{H - B + 16}" text-anchor="middle">{t}</text>')
    s.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">seconds since the drain</text>')
    for t, label in ((0, "drain"), (timeout, "timeout")):
        s.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{T}" y2="{H - B}" stroke="#888" stroke-dasharray="2,3"/>')
        s.append(f'<text x="{x(t) + 4:.1f}" y="{T + 12}" fill="#555">{label}</text>')
    for i, n in enumerate(nodes):
        c = COLOURS[i % len(COLOURS)]
        for kind, dash in (("held", ""), ("tracked", ' stroke-dasharray="6,4"')):
            pts = " ".join(f"{x(t):.1f},{y(int(r[f'{kind}_{n}'])):.1f}" for t, r in zip(ts, rows))
            s.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
        s.append(f'<line x1="{W - R + 15}" x2="{W - R + 40}" y1="{T + 20 + 20 * i}" y2="{T + 20 + 20 * i}" stroke="{c}" stroke-width="2"/>')
        s.append(f'<text x="{W - R + 46}" y="{T + 24 + 20 * i}">{n}</text>')
    k = len(nodes)
    s.append(f'<text x="{W - R + 15}" y="{T + 34 + 20 * k}">solid: held</text>')
    s.append(f'<text x="{W - R + 15}" y="{T + 50 + 20 * k}">dashed: tracked</text>')
    s.append("</svg>")
    open(out, "w").write("\n".join(s) + "\n")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 8.0)
