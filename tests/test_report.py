"""The HTML compile report: its facts (fusion groups, unfused pairs, kernels, memory) and the page itself."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.cli import main
from graphc.ir import Graph, TensorType, float32
from graphc.passes import run_pipeline
from graphc.report import collect, fusion_groups, llvm_function, unfused_pairs


def _linear_relu_graph():
    g = Graph("lin")
    x = g.placeholder("x", TensorType(float32, (4, 8)))
    w = g.placeholder("w", TensorType(float32, (8, 3)), role="param")
    b = g.placeholder("b", TensorType(float32, (3,)), role="param")
    mm = g.add("matmul", x, w, name="mm")
    biased = g.add("add", mm, b, name="biased")
    out = g.add("relu", biased, name="out")
    g.set_outputs([out])
    return run_pipeline(g, ["fuse", "memory_plan"])


def _two_layer_graph():
    g = Graph("mlp")
    x = g.placeholder("x", TensorType(float32, (4, 8)))
    w = g.placeholder("w", TensorType(float32, (8, 3)), role="param")
    v = g.placeholder("v", TensorType(float32, (3, 2)), role="param")
    h = g.add("relu", g.add("matmul", x, w, name="mm"), name="h")
    g.set_outputs([g.add("matmul", h, v, name="out")])
    return run_pipeline(g, ["fuse", "memory_plan"])


def test_bias_and_relu_ride_on_the_matmul_kernel():
    g = _linear_relu_graph()
    groups = fusion_groups(g)
    assert [(k.root.name, k.reason, [m.name for m in k.members]) for k in groups] == [
        ("mm", "matmul with 1 epilogue store(s)", ["biased", "out"])]
    assert unfused_pairs(g) == []


def test_fusion_groups_and_the_reason_each_pair_did_not_fuse():
    g = _two_layer_graph()
    groups = fusion_groups(g)
    assert [(k.root.name, [m.name for m in k.members]) for k in groups] == [("mm", ["h"]), ("out", [])]
    assert [(p.name, c.name) for p, c, _ in unfused_pairs(g)] == [("h", "out")]
    assert "operand of a matmul" in unfused_pairs(g)[0][2]


def test_a_plan_that_explains_itself_is_asked_first():
    g = _two_layer_graph()

    class Explaining(type(g.meta["fusion"])):
        def why_not_fused(self, producer, consumer):
            return f"{producer.name} feeds {consumer.name} across a kernel boundary"

    g.meta["fusion"] = Explaining(dict(g.meta["fusion"].materialized))
    assert unfused_pairs(g)[0][2] == "h feeds out across a kernel boundary"


def test_without_a_fusion_pass_every_op_is_its_own_group():
    g = Graph("plain")
    x = g.placeholder("x", TensorType(float32, (3,)))
    g.set_outputs([g.add("exp", g.add("neg", x))])
    groups = fusion_groups(g)
    assert len(groups) == 2 and "did not run" in groups[0].reason and len(unfused_pairs(g)) == 1


def test_llvm_function_extracts_one_define():
    text = 'declare float @expf(float)\n\ndefine void @"k0_add"(ptr %a) {\nentry:\n  ret void\n}\n\ndefine void @k1(ptr %b) {\n  ret void\n}\n'
    assert llvm_function(text, "k0_add") == 'define void @"k0_add"(ptr %a) {\nentry:\n  ret void\n}'
    assert llvm_function(text, "k1").startswith("define void @k1(") and llvm_function(text, "k2") == ""


def _compiled_mlp(**kw):
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    compiled = graphc.compile(model, **kw)
    compiled(graphc.randn(4, 8))
    return compiled


def test_report_holds_every_part(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_PROFILE", "1")
    compiled = _compiled_mlp()
    r = collect(compiled)
    assert [s for s, _ in r.stages] == ["trace", *graphc.passes.DEFAULT_PIPELINE]
    assert set(r.pass_times) == set(graphc.passes.DEFAULT_PIPELINE)
    assert len(r.kernels) == compiled.stats()["kernels"] and all(k["llvm"].startswith("define") for k in r.kernels)
    plan = compiled.graphs()[0].meta["memory_plan"]
    assert r.memory["peak_bytes"] == plan.arena_bytes and r.memory["arena_bytes"] == compiled.stats()["arena_bytes"]
    assert len(r.memory["buffers"]) == len(plan.offsets)
    assert r.profile and {p["kernel"] for p in r.profile} == {k["name"] for k in r.kernels}
    html = compiled.report(tmp_path / "r.html").read_text()
    for section in ("summary", "passes", "stages", "fusion", "unfused", "kernels", "memory", "profile", "graph"):
        assert f"<section id='{section}'>" in html
    assert "000_trace" in html and f"{len(graphc.passes.DEFAULT_PIPELINE):03d}_memory_plan" in html and "buffer-timeline" in html
    fuse_stage = f"<code>{graphc.passes.DEFAULT_PIPELINE.index('fuse') + 1:03d}_fuse</code>"
    assert html.split(fuse_stage)[1].split("</summary>")[0].endswith("(IR text unchanged)")  # a plan only
    assert "matmul with 1 epilogue store(s)" in html and "operand of a matmul" in html and "us/call" in html
    assert ("<svg" in html.split("id='graph'")[1]) == (shutil.which("dot") is not None)


def test_report_without_graphviz_or_profiling_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHC_PROFILE", raising=False)
    monkeypatch.setattr("graphc.report.shutil.which", lambda name: None)
    r = collect(_compiled_mlp(backend="reference"))
    assert r.svg is None and any("apt-get install graphviz" in n for n in r.notes)
    assert any("GRAPHC_PROFILE=1" in n for n in r.notes) and r.profile is None
    assert r.kernels and any("reference backend" in n for n in r.notes)


def test_report_before_compiling_is_a_clear_error(tmp_path):
    with pytest.raises(graphc.GraphcError, match="not compiled yet"):
        graphc.compile(nn.Linear(2, 2)).report(tmp_path / "r.html")


MODEL = """
from graphc import nn

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 16)
        self.l2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.l2(self.l1(x).relu())
"""


@pytest.fixture(scope="module")
def train_report(tmp_path_factory):
    """The report of a whole train step, written by the graphc command with profiling on."""
    folder = tmp_path_factory.mktemp("report")
    (folder / "model.py").write_text(MODEL)
    out = folder / "report.html"
    assert main(["report", f"{folder / 'model.py'}:MLP", "--input-shape", "4,8", "--train", "--profile",
                 "--steps", "2", "-o", str(out)]) == 0
    return out


def test_report_command_writes_a_train_step_report(train_report):
    html = train_report.read_text()
    assert "graphc compile report: train_step" in html and "assign <code>%l1.weight</code>" in html
    assert "<section id='profile'><h2>Kernel run times</h2><table>" in html
    assert "what cse changed" in html and "<span class='del'>" in html


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(*args):
    import subprocess

    return subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args],
                          capture_output=True, text=True, timeout=180, check=False)


def _png_pixels(path):
    """Decode an 8-bit RGB(A) PNG (what Chromium writes) into a numpy array, with no imaging library."""
    import struct
    import zlib

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color = header[:4]
    assert depth == 8 and color in (2, 6)
    channels = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        prev = out[y - 1] if y else np.zeros_like(line)
        if kind == 0:
            out[y] = line
        elif kind == 2:
            out[y] = (line + prev) % 256
        else:  # Sub, Average, Paeth depend on the pixel to the left: decode byte by byte
            row = np.zeros_like(line)
            for i in range(len(line)):
                a = row[i - channels] if i >= channels else 0
                b, c = prev[i], (prev[i - channels] if i >= channels else 0)
                if kind == 1:
                    pred = a
                elif kind == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                row[i] = (line[i] + pred) % 256
            out[y] = row
    return out.reshape(height, width, channels)[:, :, :3]


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(train_report, tmp_path):
    dom = _run_chromium("--dump-dom", train_report.as_uri())
    assert dom.returncode == 0, dom.stderr
    html = dom.stdout
    assert 'data-ready="1"' in html  # the page's script ran to the end
    nav = html.split('id="toc"')[1].split("</nav>")[0]
    for title in ("Summary", "Pass times", "IR at each stage", "Fusion groups", "did not fuse", "LLVM IR",
                  "Memory plan", "Kernel run times", "The graph"):
        assert title in nav
    shot = tmp_path / "shot.png"
    result = _run_chromium("--window-size=1000,700", f"--screenshot={shot}", train_report.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr
    pixels = _png_pixels(shot)
    header = pixels[5:40, 5:300].reshape(-1, 3)
    assert (np.abs(header - [0x24, 0x34, 0x47]).sum(axis=1) < 30).mean() > 0.5  # the dark title bar is drawn
    body = pixels[120:, :].reshape(-1, 3)
    assert len(np.unique(body, axis=0)) > 20  # text and tables, not a blank page


def test_report_of_a_graph_compiled_without_fusion_or_memory_plan(tmp_path):
    compiled = _compiled_mlp(stop_after="dce")
    r = collect(compiled)
    assert r.memory is None and all("did not run" in g.reason for g in r.groups)
    assert len(r.groups) == len(compiled.graphs()[0].nodes) and all(k["llvm"] for k in r.kernels)
    html = compiled.report(tmp_path / "r.html", draw=False).read_text()
    assert "no memory plan (the memory_plan pass did not run)" in html and "draw=False" in html
    assert "<svg" not in html.split("id='graph'")[1]
