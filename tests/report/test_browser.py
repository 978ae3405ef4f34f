"""Reports rendered by a real browser: headless Debian Chromium lays out every plot."""

from __future__ import annotations

import html
import itertools
import json
import math
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tunelab as tl
from tunelab.report import (
    Section,
    evaluation_report,
    param_importances,
    render_report,
    study_report,
)
from tunelab.report import _study_plots as plots
from tunelab.report._plotly import PlotlyRenderer
from tunelab.report._study import _read as read_study
from tunelab.samplers import RandomSampler
from tunelab.trial import Trial

pytestmark = pytest.mark.slow

_ROOT = Path(__file__).resolve().parents[2]
_INSTALL = _ROOT / "scripts" / "install-chromium.sh"
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Writes each plot's laid-out size into the DOM, so --dump-dom shows what was rendered.
_MEASURE = (
    "<script>for (const s of document.querySelectorAll('svg.plot')) {"
    "const r = s.getBoundingClientRect();"
    "s.setAttribute('data-rendered', r.width + 'x' + r.height);}</script>"
)


# Lays out a report (plotly ones after their scripts ran) and writes what was drawn into
# the DOM as JSON: the content column's width, each SVG plot's box and the labels that
# stick out of it, each plotly chart's box, bar heights and axis-title boxes.
_MEASURE_LAYOUT = """<script>
setTimeout(() => {
  const box = e => { const r = e.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, w: r.width, h: r.height}; };
  const main = document.querySelector('main'), style = getComputedStyle(main);
  const content = main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const svgs = [...document.querySelectorAll('svg.plot')].map(s => {
    const r = box(s);
    const out = [...s.querySelectorAll('text')].filter(t => { const b = box(t);
      return b.w > 0 && (b.left < r.left - 1 || b.right > r.right + 1 ||
                         b.top < r.top - 1 || b.bottom > r.bottom + 1); });
    return {name: s.dataset.plot, label: s.getAttribute('aria-label'), box: r,
            outside: out.map(t => t.textContent)};
  });
  const plotly = [...document.querySelectorAll('.js-plotly-plot')].map(d => ({
    box: box(d),
    bars: [...d.querySelectorAll('.barlayer .point path')].map(p => box(p).h),
    titles: [...d.querySelectorAll('.parcoords .axis-title')].map(box)}));
  const pre = document.createElement('pre');
  pre.id = 'layout';
  pre.textContent = JSON.stringify({content, svgs, plotly});
  document.body.appendChild(pre);
}, 500);
</script>"""


def _find_chromium() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium, installed first when missing and running as root."""
    path = _find_chromium()
    if path is None and os.geteuid() == 0:
        subprocess.run(["bash", str(_INSTALL)], check=False, timeout=900)
        path = _find_chromium()
    if path is None:
        pytest.skip(
            "chromium is not installed and could not be installed "
            f"(run {_INSTALL.relative_to(_ROOT)} as root)"
        )
    return path


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A study report and a binary-classification evaluation report on disk."""
    folder = tmp_path_factory.mktemp("reports")
    study = tl.create_study(study_name="browser", sampler=RandomSampler(seed=0))

    def objective(trial: tl.Trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        return (x - 1) ** 2 + (kind == "b") + lr

    study.optimize(objective, n_trials=60)
    study_report(study, folder / "study.html")
    rng = np.random.default_rng(0)
    folds = []
    for _ in range(3):
        y = rng.integers(0, 2, 200)
        p = np.clip(0.6 * y + rng.normal(0.2, 0.25, 200), 0, 1)
        folds.append({"y_true": y, "y_pred": (p > 0.5).astype(int), "y_score": p})
    evaluation_report(
        title="Evaluation",
        metrics=[("roc_auc", 0.9, 0.01, 0.88, 0.92)],
        task="classification",
        folds=folds,
        path=folder / "evaluation.html",
    )
    yield {"study": folder / "study.html", "evaluation": folder / "evaluation.html"}


@pytest.mark.parametrize("name", ["study", "evaluation"])
def test_browser_lays_out_every_plot(
    chromium: str, reports: dict[str, Path], name: str, tmp_path: Path
) -> None:
    source = reports[name].read_text(encoding="utf-8")
    expected = source.count('<svg xmlns="http://www.w3.org/2000/svg" class="plot"')
    measured = tmp_path / "measured.html"
    measured.write_text(source.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    dom = _run(chromium, tmp_path / "profile", "--dump-dom", measured.as_uri()).stdout
    sizes = re.findall(r'<svg[^>]*class="plot"[^>]*data-rendered="([\d.]+)x([\d.]+)"', dom)
    assert expected >= 4
    assert len(sizes) == expected, "every plot must be in the DOM and measured"
    assert all(float(w) > 100 and float(h) > 100 for w, h in sizes), sizes


def _layout(chromium: str, page: Path, tmp_path: Path) -> dict[str, Any]:
    """What chromium laid out for ``page`` in a 1400 px wide window."""
    measured = tmp_path / "layout.html"
    text = page.read_text(encoding="utf-8").replace("</body>", _MEASURE_LAYOUT + "</body>")
    measured.write_text(text, encoding="utf-8")
    dom = _run(
        chromium,
        tmp_path / "profile",
        "--window-size=1400,3000",
        "--virtual-time-budget=3000",
        "--dump-dom",
        measured.as_uri(),
    ).stdout
    found = re.search(r'<pre id="layout">(.*?)</pre>', dom, flags=re.S)
    assert found, "the measuring script did not run"
    return dict(json.loads(html.unescape(found.group(1))))


def _regression_study() -> tl.Study:
    """Long metric and parameter names, integer and log parameters, a negated RMSE."""
    study = tl.create_study(
        study_name="layout", direction="maximize", sampler=RandomSampler(seed=0)
    )
    study.set_user_attr("metric", "neg_root_mean_squared_error")

    def objective(trial: Trial) -> float:
        depth = trial.suggest_int("max_depth", 1, 4)
        trees = trial.suggest_int("n_estimators", 10, 300, log=True)
        trial.suggest_categorical("criterion", ["squared_error", "absolute_error"])
        rate = trial.suggest_float("learning_rate_of_the_booster", 1e-3, 1.0, log=True)
        weight = trial.suggest_float("min_child_weight_fraction", 0.0, 1.0)
        sample = trial.suggest_float("colsample_bytree_fraction", 0.1, 1.0)
        return -(40 + 10 * abs(depth - 3) + 5 * math.log(trees) + rate + weight + sample)

    study.optimize(objective, n_trials=20)
    return study


def test_svg_report_spans_the_page_and_keeps_every_label_inside_its_plot(
    chromium: str, tmp_path: Path
) -> None:
    page = tmp_path / "study.html"
    study_report(_regression_study(), page)
    layout = _layout(chromium, page, tmp_path)
    content = layout["content"]
    assert content > 1000
    for plot in layout["svgs"]:
        assert plot["outside"] == [], f"labels cut off in {plot['label']}: {plot['outside']}"
    by_name = {p["name"]: p for p in layout["svgs"]}
    for name in ("history", "importance", "parallel"):
        assert by_name[name]["box"]["w"] >= 0.95 * content, (name, by_name[name]["box"])
    slices = [p["box"] for p in layout["svgs"] if p["name"] == "slice"]
    first_row = [b for b in slices if abs(b["top"] - slices[0]["top"]) < 1]
    assert len(first_row) == 3, "slices are laid out three to a row"
    assert max(b["right"] for b in first_row) - min(b["left"] for b in first_row) > 0.95 * content


def test_interactive_charts_have_height_and_parallel_labels_do_not_overlap(
    chromium: str, tmp_path: Path
) -> None:
    pytest.importorskip("plotly")
    # The two plotly figures that went wrong, as --interactive draws them (a whole
    # interactive report holds ten charts and takes chromium far longer to lay out).
    data = read_study(_regression_study())
    render = PlotlyRenderer()
    importance = plots.importance_chart(param_importances(data.complete), data)
    sections = [
        Section("Parameter importance", render(importance)),
        Section("Parallel coordinates", render(plots.parallel_plot(data))),
    ]
    page = tmp_path / "interactive.html"
    page.write_text(render_report(sections, "Interactive"), encoding="utf-8")
    charts = _layout(chromium, page, tmp_path)["plotly"]
    assert len(charts) == 2
    assert all(c["box"]["h"] > 150 for c in charts), [c["box"] for c in charts]
    importance = next(c for c in charts if c["bars"])
    bars = importance["bars"]
    # One bar per parameter, together filling a good part of the chart's height.
    assert len(bars) == 6
    assert sum(bars) > 0.35 * importance["box"]["h"], f"importance bars collapsed: {bars}"
    titles = next(c["titles"] for c in charts if c["titles"])
    assert len(titles) == 7
    for a, b in itertools.combinations(sorted(titles, key=lambda t: t["left"]), 2):
        assert a["right"] <= b["left"] + 0.5, f"axis titles overlap: {a} and {b}"


def test_screenshot_shows_plots(chromium: str, reports: dict[str, Path], tmp_path: Path) -> None:
    png = tmp_path / "study.png"
    _run(
        chromium,
        tmp_path / "profile",
        f"--screenshot={png}",
        "--window-size=1280,4000",
        reports["study"].as_uri(),
    )
    pixels = decode_png(png.read_bytes())
    assert pixels.shape[:2] == (4000, 1280)
    rgb = pixels[:, :, :3].reshape(-1, 3)
    colours = np.unique(rgb[::7], axis=0)
    assert len(colours) > 200, "a page of plots has many colours (text, lines, colour maps)"
    white = (rgb == 255).all(axis=1).mean()
    assert 0.5 < white < 0.99, f"white share {white:.3f}: blank or unreadable page"
    # The viridis-coloured parallel coordinates and slices put strongly coloured pixels on screen.
    saturated = (rgb.max(axis=1).astype(int) - rgb.min(axis=1)) > 60
    assert saturated.mean() > 0.003


def decode_png(data: bytes) -> np.ndarray:
    """Pixels (height x width x channels) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG layout"
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    rows = raw.reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), dtype=np.uint8)
    previous = np.zeros(width * channels, dtype=np.uint8)
    for y in range(height):
        out[y] = _unfilter(int(rows[y, 0]), rows[y, 1:], previous, channels)
        previous = out[y]
    return out.reshape(height, width, channels)


def _unfilter(kind: int, line: np.ndarray, up: np.ndarray, bpp: int) -> np.ndarray:
    if kind == 0:
        return line
    if kind == 2:
        return line + up  # uint8 arithmetic wraps modulo 256, as PNG requires
    if kind == 1:
        # Each byte adds the reconstructed byte one pixel left: a running sum per channel.
        sums = np.cumsum(line.reshape(-1, bpp).astype(np.int64), axis=0) % 256
        return sums.astype(np.uint8).reshape(-1)
    # Average and Paeth depend on the byte just reconstructed: a plain loop (lists are fast).
    recon = [0] * bpp + [0] * len(line)
    above = [0] * bpp + up.tolist()
    for i, value in enumerate(line.tolist()):
        a, b, c = recon[i], above[i + bpp], above[i]
        if kind == 3:
            pred = (a + b) // 2
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
        recon[i + bpp] = (value + pred) & 0xFF
    return np.array(recon[bpp:], dtype=np.uint8)
