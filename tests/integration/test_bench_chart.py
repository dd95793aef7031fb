"""tools/bench_chart.py: the SVG chart `make bench` draws from its results
table. It reads whatever scenarios the table holds, including ones it has
never heard of. Each gets its main metric. The bar points to the broker
that is better, and the ratio is printed. A scenario measured on one side
only says n/a. No broker runs here: the input is a results file written
in the format bench.sh writes."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))

import bench_chart  # noqa: E402

RESULTS = """# Benchmarks

Written by `make bench` (tools/bench.sh) on 2026-12-01 10:00 UTC. Each scenario ...

## Machine and versions

- Tern: Tern 0.1.0, commit abc1234
- RabbitMQ: RabbitMQ 3.10.8
- Load average (1, 5, 15 min) when the run began: 0.50 0.60 0.70

## Results

| Scenario | Metric | Tern | RabbitMQ | Tern / RabbitMQ |
|---|---|--:|--:|--:|
| S1: 1 -> 1, 16 B transient, manual acks | published msg/s (higher is better) | 900000 | 50000 | 18.00x |
|  | delivered msg/s (higher is better) | 800000 | 40000 | 20.00x |
| S6-1k: latency at 1k msg/s | delivered msg/s (higher is better) | 1000 | 1000 | 1.00x |
|  | latency p50 ms (lower is better) | 0.1 | 0.2 | 0.50x |
|  | latency p99 ms (lower is better) | 4 | 0.5 | 8.00x |
| S10: a scenario added later | things per second (higher is better) | 3000 | 1000 | 3.00x |
| S11: measured on one side | broker RSS MB (lower is better) | 95 | n/a | n/a |

## Command lines and ternperf's own CPU

| S1 | tern | 21% |  | `not | a | result` |
"""

SVG = "{http://www.w3.org/2000/svg}"


def chart():
    meta, rows = bench_chart.parse_results(RESULTS)
    return meta, rows, ET.fromstring(bench_chart.svg(meta, rows))


def texts(root):
    return [t.text for t in root.iter(SVG + "text")]


def test_parses_every_row_of_the_results_table_only():
    meta, rows, _ = chart()
    assert [(r[0], r[2]) for r in rows] == [
        ("S1", "published msg/s"), ("S1", "delivered msg/s"),
        ("S6-1k", "delivered msg/s"), ("S6-1k", "latency p50 ms"),
        ("S6-1k", "latency p99 ms"), ("S10", "things per second"),
        ("S11", "broker RSS MB")]
    assert meta["Tern"] == "Tern 0.1.0, commit abc1234"
    assert meta["date"] == "2026-12-01 10:00 UTC"


def test_one_row_per_scenario_with_its_main_metric():
    _, rows, root = chart()
    main = bench_chart.main_rows(rows)
    # S1 by delivered (not the first row), S6 by p99, S10 unknown: its first.
    assert [(r[0], r[2]) for r in main] == [
        ("S1", "delivered msg/s"), ("S6-1k", "latency p99 ms"),
        ("S10", "things per second"), ("S11", "broker RSS MB")]
    for name in ("S1", "S6-1k", "S10", "S11"):
        assert name in texts(root)


def test_ratio_printed_and_bar_on_the_better_side():
    _, _, root = chart()
    t = texts(root)
    assert "20.0x" in t  # S1: Tern 20x higher
    assert "8.0x" in t   # S6-1k: RabbitMQ's p99 8x lower
    assert "3.0x" in t
    assert "n/a (not measured on both)" in t
    axis = [ln for ln in root.iter(SVG + "line") if ln.get("stroke") == "#333"]
    assert len(axis) == 1
    mid = float(axis[0].get("x1"))
    bars = [r for r in root.iter(SVG + "rect") if r.get("fill") in
            (bench_chart.TERN, bench_chart.RABBIT)]
    assert len(bars) == 3  # S11 has none
    by_colour = {}
    for b in bars:
        by_colour.setdefault(b.get("fill"), []).append(b)
    (rabbit,) = by_colour[bench_chart.RABBIT]
    assert float(rabbit.get("x")) + float(rabbit.get("width")) <= mid + 0.1
    for b in by_colour[bench_chart.TERN]:
        assert abs(float(b.get("x")) - mid) < 0.1
    # log scale: 20x is longer than 3x, by log(20)/log(3)
    w = sorted(float(b.get("width")) for b in by_colour[bench_chart.TERN])
    assert abs(w[1] / w[0] - 2.727) < 0.01


def test_command_line_writes_the_file(tmp_path):
    src, dst = tmp_path / "results.md", tmp_path / "chart.svg"
    src.write_text(RESULTS)
    p = subprocess.run([sys.executable, os.path.join(REPO, "tools", "bench_chart.py"),
                        str(src), str(dst)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "4 scenarios" in p.stdout
    ET.parse(dst)  # well-formed
    src.write_text("# no table here\n")
    p = subprocess.run([sys.executable, os.path.join(REPO, "tools", "bench_chart.py"),
                        str(src), str(dst)], capture_output=True, text=True)
    assert p.returncode == 1
    assert "no results table" in p.stderr
