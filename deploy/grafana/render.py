#!/usr/bin/python3
"""Draws a Grafana dashboard's panels from a live Prometheus into a PNG, without Grafana.

There is no Grafana package in Debian; this is how the dashboard's screenshot
(deploy/grafana/reconwatch.png) is made, by tests/dashboard.rs against the Prometheus it runs:

    deploy/grafana/render.py --prometheus http://127.0.0.1:9090 \\
        --dashboard deploy/grafana/reconwatch.json --from now-1h --to now --out reconwatch.png

Every panel's queries run as Grafana would run them with the dashboard's variables at "All"
(variables() below is the one place that says what stands for each variable; the test reads it
with --print-variables). Panels are laid out on the dashboard's 24-column grid; rows are drawn
open, a folded row's panels included. Time series become lines (stacked where the panel stacks),
stat panels big numbers coloured by their thresholds, bar gauges bars, tables text. It draws what
Prometheus answers and nothing else: a query that fails is reported and the exit status is 1.

Debian's python3 with python3-matplotlib (.ci/test installs it). Exit status 2: bad arguments.
"""

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")  # no display: draw into the PNG only
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.lines as mlines  # noqa: E402
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402

# What stands for Grafana's variables (https://grafana.com/docs/grafana/latest/dashboards/variables/
# add-template-variables/#global-variables), for a time range [start, end] in seconds and the data
# source's scrape interval: the step is the range over MAX_POINTS (a panel about 1000 pixels wide
# gets a few hundred points), never below the scrape interval; $__rate_interval is Grafana's
# max($__interval + scrape interval, 4 * scrape interval); $__range is the whole range. A
# dashboard variable (`templating`) stands at "All": its allValue.
MAX_POINTS = 240


def variables(dashboard, start, end, scrape):
    """The variables' values, by name with its `$`, for a range [start, end] (Unix seconds)."""
    step = max(scrape, math.ceil((end - start) / MAX_POINTS))
    values = {
        "$__interval": f"{step}s",
        "$__interval_ms": str(step * 1000),
        "$__rate_interval": f"{max(step + scrape, 4 * scrape)}s",
        "$__range": f"{max(1, round(end - start))}s",
        "$__range_s": str(max(1, round(end - start))),
    }
    for v in dashboard.get("templating", {}).get("list", []):
        values["$" + v["name"]] = v.get("allValue") or ".*"
    return values


def substitute(expr, values):
    """`expr` with `$name` and `${name}` replaced, longest names first ($__interval_ms before
    $__interval)."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("${" + name[1:] + "}", values[name]).replace(name, values[name])
    return expr


def panels_of(dashboard):
    """Every panel, rows' nested panels (a folded row's) after their row, in dashboard order."""
    out = []
    for p in dashboard.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def parse_time(text, now):
    """Unix seconds from `1700000000`, `now` or `now-15m` (s, m, h, d)."""
    m = re.fullmatch(r"now(?:-(\d+)([smhd]))?", text)
    if m:
        n, unit = m.groups()
        return now - (int(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit] if n else 0)
    return float(text)


def parse_duration(text):
    m = re.fullmatch(r"(\d+)([smh])", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 15s, 1m")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


class Prometheus:
    """Prometheus's HTTP API, reached directly (no HTTP proxy from the environment), its failed
    queries collected in `failures`."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.failures = []

    def _get(self, path, params, what):
        """The `data` of a successful answer, else None (and the failure noted)."""
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with self.opener.open(url, timeout=60) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.load(e)
        except (urllib.error.URLError, OSError, ValueError) as e:
            body = {"status": "error", "error": str(e)}
        if body.get("status") != "success":
            self.failures.append(f"{what}: {body.get('error', body)}")
            return None
        return body["data"]

    def range(self, expr, start, end, step, what):
        """[(labels, [(t, value)])] of a range query."""
        data = self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step}, what)
        return [(s["metric"], [(float(t), float(v)) for t, v in s["values"]]) for s in data["result"]] if data else []

    def instant(self, expr, at, what):
        """[(labels, [(t, value)])] of an instant query at `at`: one point a series."""
        data = self._get("/api/v1/query", {"query": expr, "time": at}, what)
        if not data:
            return []
        if data["resultType"] == "scalar":
            t, v = data["result"]
            return [({}, [(float(t), float(v))])]
        return [(s["metric"], [(float(s["value"][0]), float(s["value"][1]))]) for s in data["result"]]


def legend(fmt, labels, expr):
    if fmt and fmt != "__auto":
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if not shown:
        return labels.get("__name__", expr)
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}"


def human(value, unit, decimals=None):
    """`value` written as Grafana writes it in `unit` (the few units the dashboard uses)."""
    if value is None or math.isnan(value):
        return "-"
    if value == 0:
        return "0"
    if unit == "percentunit":
        return f"{value * 100:.{1 if decimals is None else decimals}f}%"
    if unit == "s":
        for limit, div, name in ((1e-3, 1e-6, "µs"), (1, 1e-3, "ms"), (60, 1, "s"), (3600, 60, "min"),
                                 (86400, 3600, "hour"), (float("inf"), 86400, "day")):
            if abs(value) < limit or limit == float("inf"):
                return f"{value / div:.{1 if decimals is None else decimals}f} {name}"
    if unit in ("bytes", "Bps"):
        suffix = "/s" if unit == "Bps" else ""
        for name in ("B", "kB", "MB", "GB"):
            if abs(value) < 1000 or name == "GB":
                return f"{value:.{0 if name == 'B' else 1}f} {name}{suffix}"
            value /= 1000
    if decimals is not None:
        return f"{value:.{decimals}f}"
    for div, name in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.1f}{name}"
    return f"{value:.3g}" if value != int(value) else str(int(value))


GRAFANA_COLOURS = ["#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9",
                   "#705DA0", "#37872D", "#FADE2A", "#447EBC", "#C15C17", "#890F02", "#0A437C",
                   "#6D1F62", "#584477"]
NAMED = {"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A", "blue": "#5794F2"}
BACKGROUND, PANEL, BORDER, TEXT, DIM = "#111217", "#181B1F", "#2C3235", "#CCCCDC", "#8E8E8E"


def threshold_colour(defaults, value):
    colour = "green"
    for s in defaults.get("thresholds", {}).get("steps", []):
        if s["value"] is None or (value is not None and value >= s["value"]):
            colour = s["color"]
    return NAMED.get(colour, colour)


def mapped(defaults, value):
    """The text and colour a value mapping gives `value`, or None."""
    for m in defaults.get("mappings", []):
        hit = m.get("options", {}).get(human(value, "short"))
        if m.get("type") == "value" and hit:
            return hit.get("text"), NAMED.get(hit.get("color"), hit.get("color"))
    return None


def fit(text, width_px, fontsize):
    """`text` cut with an ellipsis to about `width_px` (bold DejaVu Sans: ~0.62 em a character)."""
    room = int(width_px / (fontsize * 100 / 72 * 0.62)) - 1
    return text if len(text) <= room else text[:room - 1].rstrip() + "…"


class Renderer:
    """Draws panels with what `prometheus` answers for the range [start, end] and the variables'
    `values`."""

    def __init__(self, prometheus, start, end, values):
        self.prom, self.start, self.end, self.values = prometheus, start, end, values
        self.step = int(values["$__interval"].removesuffix("s"))

    def series(self, panel):
        """[(legend, labels, [(t, v)], whether the target sets its legend)] of every target of
        `panel`; an instant target gives one point a series."""
        out = []
        for t in panel.get("targets", []):
            expr = substitute(t["expr"], self.values)
            what = f"panel {panel['id']} {panel['title']!r} {t['refId']}"
            if t.get("instant"):
                got = self.prom.instant(expr, self.end, what)
            else:
                got = self.prom.range(expr, self.start, self.end, self.step, what)
            fmt = t.get("legendFormat")
            named = bool(fmt) and fmt != "__auto"
            out.extend((legend(fmt, labels, expr), labels, points, named) for labels, points in got)
        return out

    def draw(self, fig, panel, box):
        """Draws `panel` into `box` (x, y, w, h as figure fractions); True when it showed data."""
        x, y, w, h = box
        if panel["type"] == "row":
            fig.text(x + 0.004, y + h / 2, panel["title"], color=TEXT, fontsize=11, weight="bold", va="center")
            return False
        # Behind the panel's axes (zorder 0), above the figure's background.
        fig.add_artist(patches.FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.002",
                                              transform=fig.transFigure, facecolor=PANEL, edgecolor=BORDER,
                                              linewidth=0.8, zorder=-1))
        title_h = 18 / (fig.get_figheight() * fig.dpi)
        fig.text(x + 0.005, y + h - title_h / 2 - 0.001, fit(panel["title"], w * fig.get_figwidth() * fig.dpi, 8.5),
                 color=TEXT, fontsize=8.5, weight="bold", va="center")
        inner = (x + 0.004, y + 0.004, w - 0.008, h - title_h - 0.006)
        data = self.series(panel)
        if not data:
            fig.text(inner[0] + inner[2] / 2, inner[1] + inner[3] / 2, "No data", color=DIM, fontsize=10,
                     ha="center", va="center")
            return False
        draw = {"timeseries": self.timeseries, "stat": self.stat, "bargauge": self.bargauge,
                "table": self.table}[panel["type"]]
        draw(fig, panel, inner, data)
        return True

    def timeseries(self, fig, panel, box, data):
        defaults = panel["fieldConfig"]["defaults"]
        unit = defaults.get("unit", "short")
        stacked = defaults.get("custom", {}).get("stacking", {}).get("mode") == "normal"
        legend_rows = min(len(data), 6)
        legend_h = (legend_rows * 11 + 4) / (fig.get_figheight() * fig.dpi)
        x, y, w, h = box
        ax = fig.add_axes((x + 0.035, y + legend_h + 0.012, w - 0.04, h - legend_h - 0.014))
        ax.set_facecolor(PANEL)
        grid = [self.start + i * self.step for i in range(int((self.end - self.start) // self.step) + 1)]
        base = [0.0] * len(grid)
        for i, (label, _, points, _) in enumerate(sorted(data, key=lambda d: d[0])):
            colour = GRAFANA_COLOURS[i % len(GRAFANA_COLOURS)]
            by_t = {round(t): v for t, v in points}
            if stacked:
                vals = [by_t.get(round(t), 0.0) for t in grid]
                top = [b + v for b, v in zip(base, vals)]
                times = [datetime.fromtimestamp(t, timezone.utc) for t in grid]
                ax.fill_between(times, base, top, color=colour, alpha=0.35, linewidth=0)
                ax.plot(times, top, color=colour, linewidth=1, label=label)
                base = top
            else:
                times = [datetime.fromtimestamp(t, timezone.utc) for t, _ in points]
                ax.plot(times, [v for _, v in points], color=colour, linewidth=1.2, label=label)
        if "min" in defaults:
            ax.set_ylim(bottom=defaults["min"])
        # Threshold lines as Grafana draws them: where the data's scale reaches, not widening it.
        limits = ax.get_ylim()
        if defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode") == "line":
            for s in defaults.get("thresholds", {}).get("steps", [])[1:]:
                ax.axhline(s["value"], color=NAMED.get(s["color"], s["color"]), linewidth=0.8, linestyle="--")
        ax.set_ylim(limits)
        ax.tick_params(colors=DIM, labelsize=6.5, length=2)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))
        ax.yaxis.set_major_formatter(lambda v, _: human(v, unit))
        ax.yaxis.set_major_locator(ticker.MaxNLocator(4))
        ax.grid(color=BORDER, linewidth=0.5)
        for side in ax.spines.values():
            side.set_visible(False)
        handles, labels = ax.get_legend_handles_labels()
        if len(labels) > legend_rows:
            handles = handles[:legend_rows - 1] + [mlines.Line2D([], [], color=PANEL)]
            labels = labels[:legend_rows - 1] + [f"... and {len(data) - legend_rows + 1} more"]
        fig.legend(handles, labels, loc="lower left", bbox_to_anchor=(x, y), ncol=1, fontsize=6.5,
                   frameon=False, labelcolor=TEXT, handlelength=1.2, borderaxespad=0.1, labelspacing=0.15)

    def stat(self, fig, panel, box, data):
        defaults = panel["fieldConfig"]["defaults"]
        x, y, w, h = box
        n = len(data)
        for i, (label, _, points, named) in enumerate(data):
            value = points[-1][1] if points else None
            text, colour = mapped(defaults, value) or (
                human(value, defaults.get("unit", "short"), defaults.get("decimals")),
                threshold_colour(defaults, value))
            cx = x + w * (i + 0.5) / n
            fig.text(cx, y + h * 0.45, text, color=colour, fontsize=22 if n == 1 else 15, weight="bold",
                     ha="center", va="center")
            if n > 1 or named:
                fig.text(cx, y + h * 0.08, label, color=DIM, fontsize=6.5, ha="center", va="bottom")

    def bargauge(self, fig, panel, box, data):
        defaults = panel["fieldConfig"]["defaults"]
        unit = defaults.get("unit", "short")
        x, y, w, h = box
        rows = [(label, points[-1][1]) for label, _, points, _ in data if points][:12]
        top = max((v for _, v in rows), default=1) or 1
        ax = fig.add_axes((x, y, w, h))
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(len(rows), 0)
        for i, (label, v) in enumerate(rows):
            ax.text(0.005, i + 0.5, label, color=TEXT, fontsize=6.5, va="center")
            ax.add_patch(patches.Rectangle((0.5, i + 0.15), 0.4, 0.7, color=BORDER))
            colour = GRAFANA_COLOURS[i % len(GRAFANA_COLOURS)]
            ax.add_patch(patches.Rectangle((0.5, i + 0.15), 0.4 * v / top, 0.7, color=colour))
            ax.text(0.91, i + 0.5, human(v, unit, defaults.get("decimals")), color=TEXT, fontsize=7, va="center")

    def table(self, fig, panel, box, data):
        organize = next((t["options"] for t in panel.get("transformations", []) if t["id"] == "organize"), {})
        hidden = {k for k, v in organize.get("excludeByName", {}).items() if v}
        rename = organize.get("renameByName", {})
        columns = sorted({k for _, labels, _, _ in data for k in labels} - hidden)
        if "Value" not in hidden:
            columns.append("Value")
        x, y, w, h = box
        ax = fig.add_axes((x, y, w, h))
        ax.set_axis_off()
        decimals = panel["fieldConfig"]["defaults"].get("decimals")
        rows = [[human(points[-1][1], "short", decimals) if c == "Value" else labels.get(c, "") for c in columns]
                for _, labels, points, _ in data][:10]
        t = ax.table(cellText=rows, colLabels=[rename.get(c, c) for c in columns], loc="upper left",
                     cellLoc="left", colLoc="left")
        t.auto_set_font_size(False)
        t.set_fontsize(6.5)
        t.auto_set_column_width(list(range(len(columns))))
        for (r, _), cell in t.get_celld().items():
            cell.set_facecolor(PANEL)
            cell.set_edgecolor(BORDER)
            cell.get_text().set_color(DIM if r == 0 else TEXT)
            cell.set_height(1 / (len(rows) + 2))


def render(args, dashboard, values, start, end):
    prom = Prometheus(args.prometheus)
    renderer = Renderer(prom, start, end, values)
    fig = plt.figure(figsize=(args.width / 100, args.height / 100), dpi=100, facecolor=BACKGROUND)
    panels = panels_of(dashboard)
    title_px = 34
    grid_h = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit_h = (1 - title_px / args.height) / grid_h
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start)) + " to " + time.strftime(
        "%H:%M:%S UTC", time.gmtime(end))
    fig.text(0.006, 1 - title_px / 2 / args.height, f"{dashboard['title']}    {when}", color=TEXT,
             fontsize=13, weight="bold", va="center")
    gap_x, gap_y = 6 / args.width, 6 / args.height
    with_data, drawn = [], 0
    for p in panels:
        g = p["gridPos"]
        box = (g["x"] / 24 + gap_x / 2, 1 - title_px / args.height - (g["y"] + g["h"]) * unit_h + gap_y / 2,
               g["w"] / 24 - gap_x, g["h"] * unit_h - gap_y)
        if renderer.draw(fig, p, box):
            with_data.append(p["title"])
        drawn += p["type"] != "row"
    fig.savefig(args.out, dpi=100, facecolor=BACKGROUND)
    print(json.dumps({"panels": drawn, "with_data": with_data, "failed_queries": prom.failures}, indent=1))
    for f in prom.failures:
        print(f"render.py: query failed: {f}", file=sys.stderr)
    return 1 if prom.failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prometheus", help="Prometheus's URL, e.g. http://127.0.0.1:9090")
    p.add_argument("--dashboard", required=True, help="the dashboard JSON (Grafana's import format)")
    p.add_argument("--from", dest="start", default="now-1h", help="Unix seconds, now or now-15m (default now-1h)")
    p.add_argument("--to", dest="end", default="now", help="Unix seconds or now (default now)")
    p.add_argument("--scrape-interval", type=parse_duration, default=parse_duration("15s"),
                   help="the data source's scrape interval, for $__rate_interval (default 15s, Grafana's)")
    p.add_argument("--out", help="the PNG to write")
    p.add_argument("--width", type=int, default=1600, help="pixels (default 1600)")
    p.add_argument("--height", type=int, default=2400, help="pixels (default 2400)")
    p.add_argument("--print-variables", action="store_true",
                   help="print what stands for each variable (JSON) for this range and exit")
    args = p.parse_args()
    with open(args.dashboard) as f:
        dashboard = json.load(f)
    now = time.time()
    start, end = parse_time(args.start, now), parse_time(args.end, now)
    if end <= start:
        p.error("--to must be after --from")
    values = variables(dashboard, start, end, args.scrape_interval)
    if args.print_variables:
        print(json.dumps(values, indent=1))
        return 0
    if not args.prometheus or not args.out:
        p.error("--prometheus and --out are needed to draw")
    return render(args, dashboard, values, start, end)


if __name__ == "__main__":
    sys.exit(main())
