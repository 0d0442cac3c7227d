"""Render a :class:`graphc.report.Report` as one self-contained HTML page (inline CSS, JS and SVG).

Each part is a ``<section>`` with an id (``summary``, ``passes``, ``stages``, ``fusion``,
``unfused``, ``kernels``, ``memory``, ``profile``, ``graph``); a small script builds the table
of contents from them and filters the kernel list. Nothing is loaded from anywhere else.
"""

from __future__ import annotations

import difflib
from html import escape

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { background: #243447; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 20px; }
nav { position: sticky; top: 0; background: #e9eef4; padding: 6px 24px; border-bottom: 1px solid #cfd8e3; z-index: 1; }
nav a { margin-right: 14px; color: #243447; text-decoration: none; font-weight: 600; }
main { padding: 8px 24px 40px; }
section { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; padding: 8px 16px 14px; margin: 14px 0; }
h2 { font-size: 17px; margin: 8px 0; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border-bottom: 1px solid #eee; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; padding: 8px; overflow: auto; max-height: 480px; font-size: 12px; }
code { font-size: 12px; }
.bar { background: #4c8bf5; height: 10px; display: inline-block; }
.note { color: #7a5b00; background: #fff8e1; padding: 4px 8px; border-radius: 4px; margin: 4px 0; }
.figure { overflow: auto; max-height: 720px; border: 1px solid #eee; }
.muted { color: #6a737d; }
pre .add { color: #116329; background: #dafbe1; }
pre .del { color: #82071e; background: #ffebe9; }
pre .hunk { color: #6a737d; }
"""

SCRIPT = """
(function () {
  var nav = document.getElementById('toc');
  document.querySelectorAll('section[id] > h2').forEach(function (h) {
    var a = document.createElement('a');
    a.href = '#' + h.parentElement.id;
    a.textContent = h.textContent;
    nav.appendChild(a);
  });
  var filter = document.getElementById('kernel-filter');
  if (filter) {
    filter.addEventListener('input', function () {
      var q = filter.value.toLowerCase();
      document.querySelectorAll('.kernel').forEach(function (k) {
        k.style.display = k.dataset.search.indexOf(q) >= 0 ? '' : 'none';
      });
    });
  }
  document.body.dataset.ready = '1';
})();
"""


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class='num'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(sid: str, title: str, body: str) -> str:
    return f"<section id='{sid}'><h2>{escape(title)}</h2>{body}</section>"


def _summary(r) -> str:
    total = sum(r.pass_times.values())
    rows = [["graph", escape(r.graph.name)], ["backend", escape(r.backend)],
            ["placeholders / nodes", f"{len(r.graph.placeholders)} / {len(r.graph.nodes)}"],
            ["kernels", str(len(r.kernels))], ["fusion groups", str(len(r.groups))],
            ["peak arena bytes", _fmt_bytes(r.memory["peak_bytes"]) if r.memory else "no memory plan"],
            ["time in passes", f"{total * 1e3:.2f} ms over {len(r.pass_times)} passes"]]
    notes = "".join(f"<div class='note'>{escape(n)}</div>" for n in r.notes)
    return _section("summary", "Summary", _table(["", ""], rows) + notes)


def _passes(r) -> str:
    if not r.pass_times:
        return _section("passes", "Pass times", "<p class='muted'>no pass ran</p>")
    longest = max(r.pass_times.values()) or 1.0
    rows = [[f"<code>{escape(n)}</code>", f"{t * 1e3:.3f}", f"<span class='bar' style='width:{200 * t / longest:.0f}px'></span>"]
            for n, t in r.pass_times.items()]
    return _section("passes", "Pass times", _table(["pass", "ms", ""], rows, {1}))


def _diff_html(diff: list[str]) -> str:
    out = []
    for d in diff:
        if d.startswith(("+++", "---")):
            continue
        cls = "add" if d.startswith("+") else "del" if d.startswith("-") else "hunk" if d.startswith("@@") else ""
        out.append(f"<span class='{cls}'>{escape(d)}</span>")
    return "\n".join(out)


def _stages(r) -> str:
    parts = []
    previous = None
    for i, (name, text) in enumerate(r.stages):
        lines = text.splitlines()
        change, diff_view = "", ""
        if previous is not None:
            diff = list(difflib.unified_diff(previous, lines, lineterm="", n=0))
            added = sum(1 for d in diff if d.startswith("+") and not d.startswith("+++"))
            removed = sum(1 for d in diff if d.startswith("-") and not d.startswith("---"))
            change = f" (+{added} / -{removed} lines)" if diff else " (IR text unchanged)"
            if diff:
                diff_view = f"<details class='diff'><summary>what {escape(name)} changed</summary><pre>{_diff_html(diff)}</pre></details>"
        parts.append(f"<details class='stage'><summary><code>{i:03d}_{escape(name)}</code>: {len(lines) - 2} lines{change}"
                     f"</summary>{diff_view}<pre>{escape(text)}</pre></details>")
        previous = lines
    return _section("stages", "IR at each stage", "".join(parts))


def _node(n) -> str:
    if n.op == "assign":  # assigns have no value and no name of their own
        return f"assign <code>%{escape(n.inputs[0].name)}</code>"
    return f"<code>%{escape(n.name)}</code> {escape(n.op)}"


def _fusion(r) -> str:
    kernel_of: dict[str, list[str]] = {}
    for k in r.kernels:
        kernel_of.setdefault(k["node"], []).append(k["name"])
    rows = []
    for i, g in enumerate(r.groups):
        members = ", ".join(_node(m) for m in g.members) or "<span class='muted'>nothing fused in</span>"
        key = g.root.inputs[1].name if g.root.op == "assign" else g.root.name  # assign kernels name their value
        kernels = ", ".join(f"<code>{escape(k)}</code>" for k in kernel_of.get(key, []))
        rows.append([str(i), _node(g.root), kernels, escape(g.reason), str(len(g.members)), members])
    body = ("<p>One row per stored value or update: the kernel that computes it, why the value is stored, and "
            "the ops computed inside the same loop nest.</p>"
            + _table(["#", "stores", "kernel", "why stored", "fused ops", "ops fused into this kernel"], rows, {0, 4}))
    fusion = _section("fusion", "Fusion groups", body)
    pairs = [[_node(p), _node(c), escape(why)] for p, c, why in r.unfused]
    unfused = _section("unfused", "Neighbouring ops that did not fuse",
                       "<p>Each edge between two kernels: the consumer reads the producer's value from memory.</p>"
                       + _table(["producer", "consumer", "why not fused"], pairs))
    return fusion + unfused


def _kernels(r) -> str:
    if not r.kernels:
        return _section("kernels", "Kernels", "<p class='muted'>no kernels</p>")
    parts = ["<p><input id='kernel-filter' placeholder='filter kernels by name or op' size='40'></p>"]
    for k in r.kernels:
        search = escape(f"{k['name']} {k['op']} {k['node']}".lower())
        parts.append(f"<details class='kernel' data-search='{search}'><summary><code>{escape(k['name'])}</code> "
                     f"{escape(k['op'])} &rarr; <code>%{escape(k['node'])}</code> <span class='muted'>{k['flops']:,} flops, "
                     f"buffers {escape(', '.join(k['buffers']))}</span></summary><pre>{escape(k['llvm'])}</pre></details>")
    return _section("kernels", f"Kernels ({len(r.kernels)}) with their LLVM IR", "".join(parts))


def _timeline(mem) -> str:
    """An SVG: x is the kernel step, y the arena offset; one rectangle per temporary buffer."""
    width, height, left = 860, 320, 60
    steps = max(mem["steps"], 1)
    peak = max(mem["peak_bytes"], 1)
    sx = (width - left - 10) / steps
    sy = (height - 30) / peak
    rects = []
    for i, b in enumerate(mem["buffers"]):
        x = left + b["start"] * sx
        w = max((b["end"] - b["start"] + 1) * sx - 1, 1)
        y = 10 + b["offset"] * sy
        h = max(b["bytes"] * sy, 1)
        hue = (i * 47) % 360
        tip = f"%{b['name']} ({b['op']}): {_fmt_bytes(b['bytes'])} at offset {b['offset']}, kernels {b['start']}-{b['end']}"
        rects.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{h:.1f}' fill='hsl({hue},60%,70%)' "
                     f"stroke='#555' stroke-width='0.5'><title>{escape(tip)}</title></rect>")
    axes = (f"<line x1='{left}' y1='10' x2='{left}' y2='{height - 20}' stroke='#333'/>"
            f"<line x1='{left}' y1='{height - 20}' x2='{width - 10}' y2='{height - 20}' stroke='#333'/>"
            f"<text x='{left - 4}' y='16' font-size='10' text-anchor='end'>0</text>"
            f"<text x='{left - 4}' y='{height - 22}' font-size='10' text-anchor='end'>{escape(_fmt_bytes(peak))}</text>"
            f"<text x='{width - 10}' y='{height - 5}' font-size='10' text-anchor='end'>kernel step {steps - 1}</text>"
            f"<text x='{left}' y='{height - 5}' font-size='10'>kernel step 0</text>")
    return (f"<svg id='buffer-timeline' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>"
            f"{axes}{''.join(rects)}</svg>")


def _memory(r) -> str:
    mem = r.memory
    if mem is None:
        return _section("memory", "Memory plan", "<p class='muted'>no memory plan (the memory_plan pass did not run)</p>")
    saved = 1 - mem["peak_bytes"] / mem["unplanned_bytes"] if mem["unplanned_bytes"] else 0.0
    head = (f"<p>Peak arena: <b>{_fmt_bytes(mem['peak_bytes'])}</b> ({mem['peak_bytes']:,} bytes) for "
            f"{len(mem['buffers'])} temporaries that would take {_fmt_bytes(mem['unplanned_bytes'])} without reuse "
            f"({saved:.0%} saved).</p><p class='muted'>Buffer timeline: each rectangle is a temporary, "
            "from the kernel that writes it to the last that reads it (x), at its arena offset (y).</p>")
    if mem["arena_bytes"] is not None and mem["arena_bytes"] != mem["peak_bytes"]:
        head += (f"<p>The backend's arena is {_fmt_bytes(mem['arena_bytes'])} ({mem['arena_bytes']:,} bytes): the lowering "
                 "stores some values beyond the plan (operands it chose to keep in memory) after the planned ones.</p>")
    rows = [[f"<code>%{escape(b['name'])}</code>", escape(b["op"]), f"{b['bytes']:,}", f"{b['offset']:,}",
             f"{b['start']}&ndash;{b['end']}"] for b in mem["buffers"]]
    return _section("memory", "Memory plan", head + _timeline(mem)
                    + _table(["buffer", "op", "bytes", "offset", "live (kernels)"], rows, {2, 3}))


def _profile(r) -> str:
    if not r.profile:
        return _section("profile", "Kernel run times",
                        "<p class='muted'>profiling was off: set GRAPHC_PROFILE=1 before compiling</p>")
    rows = [[f"<code>{escape(p['kernel'])}</code>", escape(p["op"]), f"{p['per_call'] * 1e6:.1f}", f"{p['gflops']:.2f}",
             f"{p['share']:.1%}"] for p in sorted(r.profile, key=lambda p: -p["seconds"])]
    return _section("profile", "Kernel run times", _table(["kernel", "op", "us/call", "GFLOP/s", "share"], rows, {2, 3, 4}))


def _graph(r) -> str:
    if r.svg:
        body = f"<p class='muted'>Ops of one kernel share a colour.</p><div class='figure'>{r.svg}</div>"
    else:
        body = "<p class='muted'>The graph is not drawn (see the note in the summary).</p>"
    body += f"<details><summary>DOT text</summary><pre>{escape(r.dot)}</pre></details>"
    return _section("graph", "The graph", body)


def render_html(r) -> str:
    parts = [_summary(r), _passes(r), _stages(r), _fusion(r), _kernels(r), _memory(r), _profile(r), _graph(r)]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{escape(r.title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{escape(r.title)}</h1></header><nav id='toc'></nav><main>{''.join(parts)}</main>"
            f"<script>{SCRIPT}</script></body></html>\n")
