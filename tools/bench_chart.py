#!/usr/bin/python3
"""bench_chart.py — draws docs/benchmarks.md's results as an SVG chart.

    tools/bench_chart.py [RESULTS.md [OUT.svg]]   (default docs/benchmarks.md,
                                                  docs/benchmarks.svg)

The input is the results file `make bench` writes (its "## Results"
table), so a chart can be drawn again from any earlier run without
rerunning it; tools/bench.sh calls this after writing the file, and
`tools/bench.sh --chart [FILE]` only redraws. Python's standard library
only.

One row per scenario the table holds (whatever they are: rows added to
bench.sh's table appear by themselves), for its main metric (MAIN; the
first metric of a scenario not named there). A bar shows how many times
better Tern is than RabbitMQ on a log scale centred at 1x: to the right
when Tern is better (higher throughput, lower latency or memory), to the
left when RabbitMQ is; the ratio is printed at the bar's end and both
measured values beside it.
"""
import math
import re
import sys
from html import escape

# The metric that stands for each scenario, by the start of its label.
MAIN = {
    "S1": "delivered msg/s", "S1a": "delivered msg/s", "S5": "delivered msg/s",
    "S1-tls": "delivered msg/s", "S5-tls": "delivered msg/s",
    "S2": "confirmed msg/s", "S3": "confirmed msg/s", "S3k": "confirmed msg/s",
    "S4": "delivered msg/s",
    "S7": "broker RSS MB", "S8": "broker RSS MB",
    "S9": "queues declared+bound /s",
    "S11": "published msg/s",  # S10 is left out: RabbitMQ runs it at 800 connections
}
LATENCY_MAIN = "latency p99 ms"  # S6-*: the latency scenarios

TERN, RABBIT = "#1b7f79", "#d9641e"
DECADES = 3  # the axis runs from 1000x RabbitMQ to 1000x Tern


def parse_results(text):
    """(meta, rows) from a benchmarks.md: rows are (scenario, what, label,
    better, tern, rabbitmq) with values as the table's strings."""
    meta = {}
    m = re.search(r"on (\d{4}-\d\d-\d\d[ \d:]*\w*)\.", text)
    meta["date"] = m.group(1).strip() if m else ""
    for key in ("Tern", "RabbitMQ", "Load average (1, 5, 15 min) when the run began"):
        m = re.search(r"^- %s: (.*)$" % re.escape(key), text, re.M)
        meta[key] = m.group(1).strip() if m else ""
    rows, scen, what, inside = [], None, "", False
    for line in text.splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Results"
            continue
        if not inside or not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] == "Scenario":
            continue
        if cells[0]:
            scen, _, what = cells[0].partition(": ")
        m = re.match(r"(.*) \((higher|lower) is better\)$", cells[1])
        if not scen or not m:
            continue
        rows.append((scen, what, m.group(1), m.group(2), cells[2], cells[3]))
    return meta, rows


def number(s):
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return None


def main_rows(rows):
    """One row per scenario, in the table's order."""
    picked, order = {}, []
    for r in rows:
        scen, label = r[0], r[2]
        if scen not in order:
            order.append(scen)
        want = LATENCY_MAIN if scen.startswith("S6") else MAIN.get(scen)
        if scen not in picked or (want and label.startswith(want)
                                  and not picked[scen][2].startswith(want)):
            picked[scen] = r
    return [picked[s] for s in order]


def show(s):
    """A table value for reading: thousands separated."""
    v = number(s)
    if v is None:
        return s
    if v >= 10000 and v == int(v):
        return "{:,}".format(int(v))
    return s


def advantage(better, t, r):
    """How many times better Tern is (below 1: RabbitMQ is), or None."""
    if t is None or r is None or t <= 0 or r <= 0:
        return None
    return t / r if better == "higher" else r / t


def ratio_text(a):
    if a >= 1:
        return ("%.1f" % a if a < 100 else "{:,.0f}".format(a)) + "x"
    a = 1 / a
    return ("%.1f" % a if a < 100 else "{:,.0f}".format(a)) + "x"


def svg(meta, rows):
    rows = main_rows(rows)
    W, left, right, top, rh = 1000, 250, 250, 92, 38
    mid = left + (W - left - right) / 2
    half = (W - left - right) / 2
    H = top + rh * len(rows) + 56
    x_of = lambda a: mid + max(-1, min(1, math.log10(a) / DECADES)) * half
    o = []
    add = o.append
    add('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
        'font-size="13">' % (W, H, W, H))
    add('<rect width="100%" height="100%" fill="white"/>')
    title = "Tern against RabbitMQ, each scenario's main figure"
    add('<text x="16" y="28" font-size="18" font-weight="bold">%s</text>' % escape(title))
    sub = "%s · %s · %s · load average %s" % (
        meta.get("date", ""), meta.get("Tern", ""), meta.get("RabbitMQ", ""),
        meta.get("Load average (1, 5, 15 min) when the run began", ""))
    add('<text x="16" y="48" fill="#555">%s</text>' % escape(sub))
    for i in range(1, len(rows), 2):  # every other row shaded, under the grid
        add('<rect x="8" y="%d" width="%d" height="%d" fill="#f4f4f4"/>' % (top + i * rh, W - 16, rh))
    # The axis: decades either side of 1x.
    y0, y1 = top - 14, top + rh * len(rows)
    for d in range(-DECADES, DECADES + 1):
        x = mid + d / DECADES * half
        add('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%s"/>'
            % (x, y0, x, y1, "#333" if d == 0 else "#ddd", 1.5 if d == 0 else 1))
        add('<text x="%.1f" y="%d" text-anchor="middle" fill="#555" font-size="11">%s</text>'
            % (x, y1 + 16, "1x" if d == 0 else "%dx" % 10 ** abs(d)))
    add('<text x="%.1f" y="%d" text-anchor="end" fill="%s" font-weight="bold">'
        '&#8592; RabbitMQ better</text>' % (mid - 8, top - 22, RABBIT))
    add('<text x="%.1f" y="%d" fill="%s" font-weight="bold">Tern better &#8594;</text>'
        % (mid + 8, top - 22, TERN))
    add('<text x="%.1f" y="%d" text-anchor="middle" fill="#555" font-size="11">'
        'times better (log scale; throughput: higher, latency and memory: lower)</text>'
        % (mid, y1 + 32))
    add('<text x="%d" y="%d" fill="#555" font-weight="bold">Tern</text>' % (W - right + 60, top - 22))
    add('<text x="%d" y="%d" fill="#555" font-weight="bold">RabbitMQ</text>' % (W - right + 155, top - 22))
    for i, (scen, what, label, better, t, r) in enumerate(rows):
        y = top + i * rh
        add('<g><title>%s</title>' % escape("%s: %s; %s: Tern %s, RabbitMQ %s"
                                            % (scen, what, label, t, r)))
        add('<text x="16" y="%d" font-weight="bold">%s</text>' % (y + 16, escape(scen)))
        add('<text x="16" y="%d" fill="#555" font-size="11">%s</text>'
            % (y + 30, escape(label + (" (lower is better)" if better == "lower" else ""))))
        a = advantage(better, number(t), number(r))
        if a is None:
            add('<text x="%.1f" y="%d" fill="#888">n/a (not measured on both)</text>'
                % (mid + 8, y + 23))
        else:
            x = x_of(a)
            colour = TERN if a >= 1 else RABBIT
            add('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>'
                % (min(x, mid), y + 9, max(abs(x - mid), 1.5), rh - 18, colour))
            clipped = abs(math.log10(a)) > DECADES  # the bar stops at the axis' end
            text = ratio_text(a)
            tx, anchor = (x + 6, "start") if a >= 1 else (x - 6, "end")
            if clipped:  # the label goes inside the full-length bar
                tx, anchor = (x - 6, "end") if a >= 1 else (x + 6, "start")
            add('<text x="%.1f" y="%d" text-anchor="%s" font-weight="bold" fill="%s">%s</text>'
                % (tx, y + 24, anchor, "white" if clipped else colour, text))
        add('<text x="%d" y="%d" fill="%s">%s</text>' % (W - right + 60, y + 24, TERN, escape(show(t))))
        add('<text x="%d" y="%d" fill="%s">%s</text>' % (W - right + 155, y + 24, RABBIT, escape(show(r))))
        add('</g>')
    add('</svg>')
    return "\n".join(o) + "\n"


def main(argv):
    src = argv[1] if len(argv) > 1 else "docs/benchmarks.md"
    dst = argv[2] if len(argv) > 2 else "docs/benchmarks.svg"
    meta, rows = parse_results(open(src).read())
    if not rows:
        print("bench_chart: no results table in %s" % src, file=sys.stderr)
        return 1
    open(dst, "w").write(svg(meta, rows))
    print("wrote %s (%d scenarios)" % (dst, len(main_rows(rows))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
