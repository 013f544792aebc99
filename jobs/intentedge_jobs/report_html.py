"""report.html: the report's summary (report.json's dict) as one self-contained page for a marketer.

Inline CSS, charts drawn here as inline SVG, no JavaScript, no external assets. Every string that
comes from the data (rule ids, tier and slot names, event types, file names) goes through `_e`.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone

WIDTH = 760                 # every chart's width in SVG units
ROW = 30                    # height of one chart row
AXIS = 28                   # room for the axis labels under a chart
LABEL_CHARS = 32            # longer labels are cut in charts (tables show them whole)
COLOR = {"bar": "#2563eb", "fired": "#2563eb", "held_out": "#f59e0b", "rest": "#e5e7eb", "whisker": "#111827",
         "lift": "#15803d", "negative": "#b91c1c", "no detectable lift": "#6b7280", "not enough data": "#9ca3af"}
NICE_STEPS = (0.01, 0.02, 0.04, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)   # axis ends

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f9fafb;margin:0}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:0 0 6px}
.muted{color:#6b7280}.how{color:#374151;margin:0 0 12px}
section,header{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:20px 24px;margin:0 0 20px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0 8px}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;margin-top:10px;font-size:14px}
th,td{padding:5px 8px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap;vertical-align:top}
th:first-child,td:first-child{text-align:left;white-space:normal;overflow-wrap:anywhere;min-width:8em}
.wide{overflow-x:auto}
th{background:#f3f4f6;font-weight:600;white-space:normal;vertical-align:bottom}
.sub{display:block;font-size:12px;line-height:1.4;color:#6b7280;font-weight:400}
svg{display:block;max-width:100%;height:auto;font:12px system-ui,sans-serif}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:13px;line-height:1.4;
white-space:normal;text-align:center}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:12px;height:12px;
border-radius:2px;margin-right:5px;vertical-align:-1px}
details{margin-top:8px}code{font-size:13px}
"""


def render(summary: dict) -> str:
    """The whole page."""
    goal = _e(summary["goal"])
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
        f"<title>Personalization report: {_period(summary['period'])}</title><style>{CSS}</style></head>",
        "<body><main>",
        _header(summary),
        _anomalies(summary["anomalies"], summary["totals"]),
        _conversion(summary["conversion_by_tier"], goal),
        _lift(summary["lift"], goal),
        _fire_rates(summary["fire_rates"]),
        _alignment(summary["alignment"], goal),
        f"<p class=\"muted\">Made by {_e(summary['producer'])} on {_e(summary['generated_at'] or '')}; "
        "every range is a 95 % confidence interval.</p>",
        "</main></body></html>\n",
    ])


# --- sections ------------------------------------------------------------------------------

def _header(summary: dict) -> str:
    totals = summary["totals"]
    cards = [("Visitors", totals["visitors"]), ("Sessions", totals["sessions"]),
             ("Page decisions", totals["page_decisions"]), ("Events", totals["events"])]
    by_type = ", ".join(f"{_e(name)} {count:,}" for name, count in totals["events_by_type"].items())
    malformed = ""
    if summary["malformed_lines"]:
        items = "".join(f"<li><code>{_e(where)}</code></li>" for where in summary["malformed_lines"])
        malformed = f"<details><summary>Malformed lines (first {len(summary['malformed_lines'])})</summary>" \
                    f"<ul>{items}</ul></details>"
    return (
        "<header><h1>Personalization report</h1>"
        f"<div class=\"muted\">{_period(summary['period'])} · goal: <b>{_e(summary['goal'])}</b></div>"
        "<div class=\"cards\">"
        + "".join(f"<div class=\"card\"><span class=\"muted\">{name}</span><b>{value:,}</b></div>"
                  for name, value in cards)
        + "</div>"
        f"<div class=\"muted\">Events by type: {by_type or 'none'}.</div>{_left_out_note(summary['anomalies'])}"
        f"<div class=\"muted\">Read {totals['lines']:,} lines from {_e(', '.join(summary['sources']))}: "
        f"{totals['batches']:,} batches counted, {totals['duplicates']:,} duplicates counted once, "
        f"{totals['malformed']:,} malformed lines skipped.</div>{malformed}</header>"
    )


def _left_out_note(anomalies: dict) -> str:
    left_out = anomalies["excluded"]
    if not left_out["visitors"]:
        return ""
    return (f"<div class=\"muted\">{left_out['events']:,} of these events come from {left_out['visitors']:,} "
            "visitors left out of every metric as anomalies (next section).</div>")


def _anomalies(data: dict, totals: dict) -> str:
    """Shown only when the screen left someone out (report_anomalies.py); report.json always has it."""
    left_out, read = data["excluded"], data["read"]
    if not left_out["visitors"]:
        return ""
    cards = [("Visitors left out", f"{left_out['visitors']:,}", _pct(_share(left_out["visitors"], read["visitors"]))),
             ("Goal events left out", f"{left_out['goal_events']:,}",
              _pct(_share(left_out["goal_events"], read["goal_events"]))),
             ("Goal value left out", _money(left_out["goal_value"]),
              _pct(_share(left_out["goal_value"] or 0, read["goal_value"] or 0)))]
    rules = [row for row in data["rules"] if row["visitors"]]
    table = _table(["Rule", "Sessions", "Visitors", "Left out"],
                   [[_lines(_e(row["rule"]), _e(row["what"])), _n(row["sessions"]), _n(row["visitors"]),
                     _left_out(row)] for row in rules])
    samples = "".join(_sample(row) for row in rules if row["sample"])
    return _section(
        "Anomalies: traffic left out",
        "Events are what browsers claim, and a new visitor id costs one page view, so the report screens out "
        "visitors whose events no shopper sends. Every section below leaves them out whole (their sessions, "
        f"exposures and page decisions); the {totals['events']:,} events counted above include them.",
        "<div class=\"cards\">"
        + "".join(f"<div class=\"card\"><span class=\"muted\">{name}</span><b>{value}</b>"
                  f"<span class=\"muted\">{share} of all</span></div>" for name, value, share in cards)
        + f"</div>{table}{samples}")


def _left_out(row: dict) -> str:
    if row["excluded"]:
        return "yes"
    return "counted only" if row["rule"] == "goal_without_page" else "no: too few"


def _sample(row: dict) -> str:
    table = _table(["Visitor", "Sessions", "Events", "Goal events", "Largest goal value"],
                   [[_e(item["visitor"]), _n(item["sessions"]), _n(item["events"]), _n(item["goal_events"]),
                     _money(item["largest_goal_value"])] for item in row["sample"]])
    return (f"<details><summary>{_e(row['rule'])}: the {len(row['sample'])} heaviest of {row['visitors']:,} "
            f"visitors</summary>{table}</details>")


def _conversion(data: dict, goal: str) -> str:
    tiers = data["tiers"]
    rows = [(_tier(row["tier"]), row["rate"], row["ci"]) for row in tiers]   # raw text: _bars escapes
    table = _table(["Intent tier", "Sessions", "Converted", "Rate", "95 % CI"],
                   [[_e(_tier(row["tier"])), _n(row["sessions"]), _n(row["conversions"]), _pct(row["rate"]),
                     _ci(row["ci"])] for row in tiers])
    other = data["without_page_decision"]
    note = (f"<p class=\"muted\">{other['sessions']:,} sessions had no page decision "
            f"({other['conversions']:,} converted) and are not in any tier.</p>") if other["sessions"] else ""
    return _section(
        "Conversion by intent tier",
        f"Each bar is the share of sessions in that tier that reached the goal ({goal}); the thin line is the "
        "range the true rate lies in with 95 % confidence, so bars whose lines do not overlap really differ.",
        _bars(rows, "sessions converted") + table + note)


def _lift(rows: list[dict], goal: str) -> str:
    if not rows:
        return _section("Lift per trigger", "No rule had a holdout (control exposures), so there is nothing "
                        "to compare.", "")
    chart = _forest([(row["rule"], row["difference"], row["difference_ci"], row["verdict"]) for row in rows])
    # Six columns whose cells stack short lines (a rate over its counts and interval): the table fits
    # the page's ~900 px column without a scrollbar, so the verdict stays in view.
    table = _table(
        ["Rule", _lines("Shown the rule", "converted", "95 % CI"), _lines("Holdout", "converted", "95 % CI"),
         _lines("Difference", "95 % CI", "p-value"), _lines("Relative lift", "95 % CI"), "Verdict"],
        [[_e(row["rule"]), _arm(row["treatment"]), _arm(row["control"]),
          _lines(_pp(row["difference"]), _ci(row["difference_ci"], _pp), f"p {_p(row['p_value'])}"),
          _lines(_pct(row["relative_lift"], signed=True),
                 _ci(row["relative_lift_ci"], lambda v: _pct(v, signed=True))),
          _badge(row["verdict"])] for row in rows])
    both = sum(row["in_both_arms"] for row in rows)
    note = (f"<p class=\"muted\">{both:,} visitors saw both a rule and its holdout and are left out.</p>"
            if both else "")
    return _section(
        "Lift per trigger",
        f"Each dot is how many more visitors in every hundred reached the goal ({goal}) after seeing the rule "
        "than in its holdout, who saw the fallback; where the line crosses the dashed zero line, the "
        "difference may be chance.",
        chart + table + note)


def _fire_rates(data: dict) -> str:
    rules = data["rules"]
    chart = _stacked([(row["rule"], row["fired_share"] or 0.0, row["held_out_share"] or 0.0) for row in rules])
    table = _table(["Rule", "Shown", "Share", "95 % CI", "Held out", "Share", "95 % CI"],
                   [[_e(row["rule"]), _n(row["fired"]), _pct(row["fired_share"]), _ci(row["fired_ci"]),
                     _n(row["held_out"]), _pct(row["held_out_share"]), _ci(row["held_out_ci"])] for row in rules])
    slots = _table(["Slot", "Page decisions", "Showing the fallback", "Share", "95 % CI"],
                   [[_e(row["slot"]), _n(row["decisions"]), _n(row["fallback"]), _pct(row["share"]),
                     _ci(row["ci"])] for row in data["fallback_by_slot"]])
    legend = ("<div class=\"legend\">"
              f"<span><i style=\"background:{COLOR['fired']}\"></i>shown</span>"
              f"<span><i style=\"background:{COLOR['held_out']}\"></i>held out (control)</span>"
              f"<span><i style=\"background:{COLOR['rest']}\"></i>not triggered</span></div>")
    return _section(
        "Fire rates",
        f"Each bar is all {data['page_decisions']:,} page decisions: blue where the rule showed its content, "
        "amber where it applied but held the visitor out as control, grey where it did not apply.",
        (legend + chart if rules else "") + table + "<h3>Fallback share per slot</h3>" + slots)


def _alignment(data: dict, goal: str) -> str:
    rules = data["rules"]
    overall = data["overall"]
    rows = [(row["rule"], row["share"], row["ci"]) for row in rules] + [("All rules", overall["share"], overall["ci"])]
    table = _table(["Rule", "Seen", "Acted on", "by a click", f"by {goal} later", "Share", "95 % CI"],
                   [[_e(row["rule"]), _n(row["exposures"]), _n(row["aligned"]), _n(row["by_click"]),
                     _n(row["by_goal"]), _pct(row["share"]), _ci(row["ci"])] for row in rules + [
                        {"rule": "All rules", **overall}]])
    return _section(
        "Intent alignment",
        f"Each bar is the share of times a rule's content was seen and then acted on, by a click inside it or "
        f"by the goal ({goal}) later in the same session; higher means the rule reaches visitors ready to act.",
        _bars(rows, "exposures acted on") + table)


def _section(title: str, how: str, body: str) -> str:
    return f"<section><h2>{title}</h2><p class=\"how\">How to read it: {how}</p>{body}</section>"


# --- charts --------------------------------------------------------------------------------

def _bars(rows: list[tuple[str, float | None, list | None]], what: str) -> str:
    """Horizontal bars (a share each) with their confidence intervals as whiskers."""
    label_w = _label_width(label for label, _, _ in rows)
    left, right = label_w, WIDTH - 90
    top = max([hi for _, _, ci in rows if ci for hi in ci[1:]] + [v or 0 for _, v, _ in rows] + [0.0])
    scale = _nice(top)
    x = _scale(0.0, scale, left, right)
    height = ROW * len(rows) + AXIS
    out = [_svg_open(height, f"Bar chart: {what}, with 95 % intervals")]
    out += _grid(0.0, scale, x, len(rows), _pct_axis)
    for i, (label, value, ci) in enumerate(rows):
        y = i * ROW + ROW / 2
        out.append(_label(label, label_w - 8, y))
        if value is None:
            out.append(f"<text x=\"{left + 4}\" y=\"{y + 4:.1f}\" fill=\"#6b7280\">no data</text>")
            continue
        out.append(f"<rect x=\"{left}\" y=\"{y - 8:.1f}\" width=\"{x(value) - left:.1f}\" height=\"16\" "
                   f"fill=\"{COLOR['bar']}\" rx=\"2\"><title>{_e(label)}: {_pct(value)} ({_ci(ci)})</title></rect>")
        if ci:
            out.append(_whisker(x(ci[0]), x(ci[1]), y))
        out.append(f"<text x=\"{right + 8}\" y=\"{y + 4:.1f}\">{_pct(value)}</text>")
    out.append("</svg>")
    return "".join(out)


def _stacked(rows: list[tuple[str, float, float]]) -> str:
    """A 100 % bar per rule: fired, held out, the rest."""
    label_w = _label_width(label for label, _, _ in rows)
    left, right = label_w, WIDTH - 120
    x = _scale(0.0, 1.0, left, right)
    out = [_svg_open(ROW * len(rows) + AXIS, "Stacked bars: share of page decisions where each rule fired or held out")]
    out += _grid(0.0, 1.0, x, len(rows), _pct_axis)
    for i, (label, fired, held) in enumerate(rows):
        y = i * ROW + ROW / 2
        out.append(_label(label, label_w - 8, y))
        out.append(f"<rect x=\"{left}\" y=\"{y - 8:.1f}\" width=\"{right - left}\" height=\"16\" "
                   f"fill=\"{COLOR['rest']}\"/>")
        out.append(f"<rect x=\"{left}\" y=\"{y - 8:.1f}\" width=\"{x(fired) - left:.1f}\" height=\"16\" "
                   f"fill=\"{COLOR['fired']}\"><title>{_e(label)}: shown in {_pct(fired)}</title></rect>")
        out.append(f"<rect x=\"{x(fired):.1f}\" y=\"{y - 8:.1f}\" width=\"{x(fired + held) - x(fired):.1f}\" "
                   f"height=\"16\" fill=\"{COLOR['held_out']}\"><title>{_e(label)}: held out in {_pct(held)}"
                   "</title></rect>")
        out.append(f"<text x=\"{right + 8}\" y=\"{y + 4:.1f}\">{_pct(fired)} / {_pct(held)}</text>")
    out.append("</svg>")
    return "".join(out)


def _forest(rows: list[tuple[str, float | None, list | None, str]]) -> str:
    """A forest plot of differences in percentage points: a dot and its interval per rule, a zero line."""
    label_w = _label_width(label for label, _, _, _ in rows)
    left, right = label_w, WIDTH - 200
    extent = max([abs(v) for _, _, ci, _ in rows if ci for v in ci] + [abs(v or 0) for _, v, _, _ in rows] + [0.0])
    half = _nice(extent)
    x = _scale(-half, half, left, right)
    out = [_svg_open(ROW * len(rows) + AXIS, "Forest plot: difference in conversion against the holdout per rule")]
    out += _grid(-half, half, x, len(rows), _pp_axis)
    zero = x(0.0)
    out.append(f"<line x1=\"{zero:.1f}\" y1=\"0\" x2=\"{zero:.1f}\" y2=\"{ROW * len(rows)}\" stroke=\"#111827\" "
               "stroke-dasharray=\"4 3\"/>")
    for i, (label, value, ci, verdict) in enumerate(rows):
        y = i * ROW + ROW / 2
        out.append(_label(label, label_w - 8, y))
        color = COLOR.get(verdict, COLOR["no detectable lift"])
        if value is None or ci is None:
            out.append(f"<text x=\"{right + 8}\" y=\"{y + 4:.1f}\" fill=\"#6b7280\">{_e(verdict)}</text>")
            continue
        out.append(_whisker(x(ci[0]), x(ci[1]), y, color))
        out.append(f"<circle cx=\"{x(value):.1f}\" cy=\"{y:.1f}\" r=\"5\" fill=\"{color}\"><title>{_e(label)}: "
                   f"{_pp(value)} ({_ci(ci, _pp)}), {_e(verdict)}</title></circle>")
        out.append(f"<text x=\"{right + 8}\" y=\"{y + 4:.1f}\" fill=\"{color}\">{_pp(value)} · {_e(verdict)}</text>")
    out.append("</svg>")
    return "".join(out)


def _svg_open(height: int, title: str) -> str:
    return (f"<svg viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" "
            f"aria-label=\"{_e(title)}\">")


def _grid(low: float, high: float, x, rows: int, label) -> list[str]:
    """Five vertical grid lines with their values under the chart."""
    bottom = ROW * rows
    out = []
    for k in range(5):
        value = low + (high - low) * k / 4
        px = x(value)
        out.append(f"<line x1=\"{px:.1f}\" y1=\"0\" x2=\"{px:.1f}\" y2=\"{bottom}\" stroke=\"#e5e7eb\"/>")
        out.append(f"<text x=\"{px:.1f}\" y=\"{bottom + 18}\" text-anchor=\"middle\" fill=\"#6b7280\">"
                   f"{label(value)}</text>")
    return out


def _whisker(x1: float, x2: float, y: float, color: str = COLOR["whisker"]) -> str:
    return (f"<g stroke=\"{color}\" stroke-width=\"1.5\"><line x1=\"{x1:.1f}\" y1=\"{y:.1f}\" x2=\"{x2:.1f}\" "
            f"y2=\"{y:.1f}\"/><line x1=\"{x1:.1f}\" y1=\"{y - 5:.1f}\" x2=\"{x1:.1f}\" y2=\"{y + 5:.1f}\"/>"
            f"<line x1=\"{x2:.1f}\" y1=\"{y - 5:.1f}\" x2=\"{x2:.1f}\" y2=\"{y + 5:.1f}\"/></g>")


def _label(text: str, x: float, y: float) -> str:
    shown = text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"
    return f"<text x=\"{x:.1f}\" y=\"{y + 4:.1f}\" text-anchor=\"end\"><title>{_e(text)}</title>{_e(shown)}</text>"


def _label_width(labels) -> int:
    longest = max((min(len(label), LABEL_CHARS) for label in labels), default=8)
    return max(90, min(260, 16 + 7 * longest))


def _scale(low: float, high: float, left: float, right: float):
    span = (high - low) or 1.0
    return lambda value: left + (min(max(value, low), high) - low) / span * (right - left)


def _nice(top: float) -> float:
    """The smallest axis end in NICE_STEPS at or above `top` (a quarter of each is a round tick)."""
    for step in NICE_STEPS:
        if top <= step:
            return step
    return math.ceil(top)


# --- text ----------------------------------------------------------------------------------

def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _tier(name: str) -> str:
    return name or "(below every tier)"


def _table(head: list[str], rows: list[list[str]]) -> str:
    """Cells arrive escaped (or made of our own markup)."""
    header = "".join(f"<th>{cell}</th>" for cell in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<div class=\"wide\"><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>"


def _lines(value: str, *details: str) -> str:
    """A value over smaller lines (counts, intervals; in a header, what those lines are) rather than
    beside it, which keeps columns narrow."""
    return value + "".join(f"<span class=\"sub\">{detail}</span>" for detail in details)


def _arm(arm: dict) -> str:
    return _lines(_pct(arm["rate"]), f"{arm['conversions']:,} of {arm['visitors']:,}", _ci(arm["ci"]))


def _badge(verdict: str) -> str:
    return f"<span class=\"badge\" style=\"background:{COLOR.get(verdict, '#6b7280')}\">{_e(verdict)}</span>"


def _n(value: int) -> str:
    return f"{value:,}"


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _pct(value: float | None, *, digits: int = 1, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:{'+' if signed else ''}.{digits}f} %"


def _pp(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.1f} pp"


def _pct_axis(value: float) -> str:
    return f"{_trim(100 * value)} %"


def _pp_axis(value: float) -> str:
    return f"{'+' if value > 0 else ''}{_trim(100 * value)} pp" if value else "0"


def _trim(number: float) -> str:
    """At most two decimals, none that are zeros: 25, 12.5, 0.25."""
    return f"{number:.2f}".rstrip("0").rstrip(".").replace("-", "−")


def _ci(interval: list | None, fmt=_pct) -> str:
    """"12.1 to 19.8 %": the unit once, after the upper end."""
    if interval is None:
        return "–"
    low, high = fmt(interval[0]), fmt(interval[1])
    number, _, unit = high.rpartition(" ")
    if number and low.endswith(" " + unit):
        low = low[:-len(unit) - 1]
    return f"{low} to {high}"


def _p(value: float | None) -> str:
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _period(period: dict) -> str:
    if period["first_epoch"] is None or period["first"] is None:
        return "no events"
    first, last = (datetime.fromtimestamp(period[k], timezone.utc) for k in ("first_epoch", "last_epoch"))
    return f"{first:%d %b %Y %H:%M} to {last:%d %b %Y %H:%M} UTC"
