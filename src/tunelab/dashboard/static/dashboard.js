// tunelab dashboard: fills the page shells from the JSON API and keeps them live.
// Charts are drawn on canvas here (no library, no network); the server aggregates
// and downsamples, so every answer is small whatever the study's size.
"use strict";

const INFO = JSON.parse(document.getElementById("app").dataset.info);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"];
const HEAVY_REFRESH_MS = 5000;
const IMPORTANCE_REFRESH_MS = 15000;
window.__shown = {};

// ---------- helpers ----------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function status(message, ok) {
  let box = document.getElementById("status");
  if (!box) { box = el("div", { id: "status" }); document.body.append(box); }
  box.textContent = message;
  box.className = ok ? "ok" : "";
  box.style.display = "block";
  clearTimeout(box._timer);
  box._timer = setTimeout(() => { box.style.display = "none"; }, 5000);
}

const keyInput = document.getElementById("api-key");
keyInput.value = sessionStorage.getItem("tunelab-api-key") || "";
keyInput.addEventListener("change", () => sessionStorage.setItem("tunelab-api-key", keyInput.value));

async function api(path, options) {
  const init = options || {};
  if (init.body !== undefined) {
    init.method = "POST";
    init.headers = { "Content-Type": "application/json", "X-API-Key": keyInput.value };
    init.body = JSON.stringify(init.body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.error || response.statusText);
  return payload;
}

function enc(name) { return encodeURIComponent(name); }

function fmt(v) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(5).replace(/\.?0+$/, "");
}

function when(stamp) { return stamp ? new Date(stamp * 1000).toLocaleString() : ""; }

// ---------- canvas charts ----------
function canvasPanel(title, parent) {
  const canvas = el("canvas");
  const controls = el("div", { class: "controls" });
  const note = el("div", { class: "note" });
  const panel = el("section", { class: "panel" }, el("h2", {}, title), controls, canvas, note);
  parent.append(panel);
  return { panel, canvas, controls, note, draw: null };
}

function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  return { ctx, width, height };
}

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { const d = Math.abs(lo) || 1; lo -= d / 2; hi += d / 2; }
  const step0 = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || 10 * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return { lo, hi, ticks };
}

function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (v !== null && Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return lo <= hi ? [lo, hi] : [0, 1];
}

// Axes with ticks and labels; returns the data-to-pixel mappings.
function frame(ctx, width, height, xr, yr, xlabel, ylabel, xfmt, yfmt) {
  const box = { l: 58, r: 12, t: 8, b: 34 };
  const w = width - box.l - box.r, h = height - box.t - box.b;
  const xt = niceTicks(xr[0], xr[1], Math.max(2, Math.floor(w / 80)));
  const yt = niceTicks(yr[0], yr[1], Math.max(2, Math.floor(h / 40)));
  const X = (v) => box.l + ((v - xt.lo) / (xt.hi - xt.lo)) * w;
  const Y = (v) => box.t + h - ((v - yt.lo) / (yt.hi - yt.lo)) * h;
  ctx.strokeStyle = "#ccd"; ctx.fillStyle = "#445"; ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (const t of xt.ticks) { const x = X(t); ctx.moveTo(x, box.t); ctx.lineTo(x, box.t + h); ctx.fillText((xfmt || fmt)(t), x, box.t + h + 4); }
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const t of yt.ticks) { const y = Y(t); ctx.moveTo(box.l, y); ctx.lineTo(box.l + w, y); ctx.fillText((yfmt || fmt)(t), box.l - 4, y); }
  ctx.stroke();
  ctx.textAlign = "center"; ctx.textBaseline = "bottom";
  ctx.fillText(xlabel, box.l + w / 2, height);
  ctx.save(); ctx.translate(10, box.t + h / 2); ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "middle"; ctx.fillText(ylabel, 0, 0); ctx.restore();
  return { X, Y, box, w, h };
}

// series: [{points: [[x, y]], mode: "markers" | "dots" | "ring" | "line" | "steps", color, label}]
// vlines: [{x, label, dash}]: vertical lines across the plot (a pruner's rungs).
function plotXY(canvas, series, xlabel, ylabel, xfmt, vlines) {
  const { ctx, width, height } = prepare(canvas);
  const xs = [], ys = [];
  for (const s of series) for (const p of s.points) { xs.push(p[0]); ys.push(p[1]); }
  if (!xs.length) { ctx.fillStyle = "#889"; ctx.fillText("no data yet", 20, 20); return; }
  const f = frame(ctx, width, height, extent(xs), extent(ys), xlabel, ylabel, xfmt);
  ctx.save(); ctx.strokeStyle = "#778"; ctx.fillStyle = "#556"; ctx.lineWidth = 1;
  ctx.textAlign = "left"; ctx.textBaseline = "bottom";
  for (const v of vlines || []) {
    const x = f.X(v.x);
    if (!(x >= f.box.l && x <= f.box.l + f.w)) continue;
    ctx.setLineDash(v.dash || [4, 3]);
    ctx.beginPath(); ctx.moveTo(x, f.box.t); ctx.lineTo(x, f.box.t + f.h); ctx.stroke();
    ctx.fillText(v.label, x + 2, f.box.t + f.h - 2);
  }
  ctx.restore();
  series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    ctx.strokeStyle = color; ctx.fillStyle = color;
    if (s.mode === "markers") {
      ctx.globalAlpha = 0.55;
      for (const [x, y] of s.points) if (y !== null) ctx.fillRect(f.X(x) - 1.5, f.Y(y) - 1.5, 3, 3);
      ctx.globalAlpha = 1;
    } else if (s.mode === "dots" || s.mode === "ring") {
      ctx.lineWidth = 2;
      for (const [x, y] of s.points) {
        if (y === null) continue;
        ctx.beginPath(); ctx.arc(f.X(x), f.Y(y), s.mode === "ring" ? 7 : 3.5, 0, 2 * Math.PI);
        if (s.mode === "ring") ctx.stroke(); else ctx.fill();
      }
    } else {
      ctx.lineWidth = 2; ctx.beginPath();
      let first = true, lastY = null;
      for (const [x, y] of s.points) {
        if (y === null) continue;
        if (first) ctx.moveTo(f.X(x), f.Y(y));
        else if (s.mode === "steps") { ctx.lineTo(f.X(x), f.Y(lastY)); ctx.lineTo(f.X(x), f.Y(y)); }
        else ctx.lineTo(f.X(x), f.Y(y));
        first = false; lastY = y;
      }
      if (s.mode === "steps" && s.until !== undefined && lastY !== null) ctx.lineTo(f.X(s.until), f.Y(lastY));
      ctx.stroke();
    }
  });
  let x = f.box.l + 6;
  ctx.textAlign = "left"; ctx.textBaseline = "top";
  series.forEach((s, i) => {
    if (!s.label) return;
    ctx.fillStyle = s.color || COLORS[i % COLORS.length];
    ctx.fillRect(x, f.box.t + 4, 10, 10);
    ctx.fillStyle = "#223"; ctx.fillText(s.label, x + 14, f.box.t + 3);
    x += ctx.measureText(s.label).width + 30;
  });
}

function plotBars(canvas, labels, values) {
  const { ctx, width, height } = prepare(canvas);
  if (!labels.length) { ctx.fillStyle = "#889"; ctx.fillText("no data yet", 20, 20); return; }
  const left = Math.min(140, Math.max(60, ...labels.map((l) => ctx.measureText(l).width + 12)));
  const rowH = Math.min(22, (height - 10) / labels.length);
  const max = Math.max(...values, 1e-12);
  ctx.textBaseline = "middle";
  labels.forEach((label, i) => {
    const y = 5 + i * rowH;
    ctx.fillStyle = "#445"; ctx.textAlign = "right";
    ctx.fillText(label.length > 20 ? label.slice(0, 19) + "…" : label, left - 6, y + rowH / 2);
    const w = ((width - left - 60) * values[i]) / max;
    ctx.fillStyle = COLORS[0]; ctx.fillRect(left, y + 2, Math.max(1, w), rowH - 4);
    ctx.fillStyle = "#223"; ctx.textAlign = "left"; ctx.fillText(fmt(values[i]), left + w + 4, y + rowH / 2);
  });
}

function colorScale(t) {
  const v = Math.max(0, Math.min(1, t));
  return `hsl(${Math.round(240 - 200 * v)}, 70%, ${Math.round(35 + 20 * v)}%)`;
}

function axisLabel(axis, position) {
  if (position === null) return "";
  if (axis.kind === "categorical") return axis.choices[Math.round(position * (axis.choices.length - 1))] || "";
  const value = axis.log ? Math.exp(Math.log(axis.low) + position * (Math.log(axis.high) - Math.log(axis.low)))
    : axis.low + position * (axis.high - axis.low);
  return fmt(axis.kind === "int" ? Math.round(value) : value);
}

function plotParallel(canvas, data) {
  const { ctx, width, height } = prepare(canvas);
  const axes = data.axes, n = data.values.length;
  if (!axes.length || !n) { ctx.fillStyle = "#889"; ctx.fillText("no data yet", 20, 20); return; }
  const top = 18, bottom = height - 22, left = 30, right = width - 30;
  const columns = axes.length + 1;
  const X = (i) => left + (i * (right - left)) / Math.max(1, columns - 1);
  const [lo, hi] = extent(data.values);
  const minimize = data.direction === "minimize";
  const order = [...Array(n).keys()].sort((a, b) => (minimize ? data.values[b] - data.values[a] : data.values[a] - data.values[b]));
  ctx.lineWidth = 1;
  for (const j of order) {
    const score = (data.values[j] - lo) / (hi - lo || 1);
    ctx.strokeStyle = colorScale(minimize ? 1 - score : score);
    ctx.globalAlpha = 0.35;
    ctx.beginPath();
    let drawing = false;
    axes.forEach((_, i) => {
      const p = data.positions[i][j];
      if (p === null) { drawing = false; return; }
      const y = bottom - p * (bottom - top);
      if (drawing) ctx.lineTo(X(i), y); else ctx.moveTo(X(i), y);
      drawing = true;
    });
    const y = bottom - score * (bottom - top);
    if (drawing) ctx.lineTo(X(axes.length), y);
    ctx.stroke();
  }
  ctx.globalAlpha = 1; ctx.strokeStyle = "#556"; ctx.fillStyle = "#223";
  ctx.textAlign = "center";
  // Labels alternate above and below so that neighbours never overlap.
  const spacing = (right - left) / Math.max(1, columns - 1);
  [...axes.map((a) => a.name), "objective"].forEach((name, i) => {
    ctx.beginPath(); ctx.moveTo(X(i), top); ctx.lineTo(X(i), bottom); ctx.stroke();
    const label = name.length * 6 > spacing * 2 ? name.slice(0, Math.max(2, Math.floor(spacing / 3))) + "…" : name;
    ctx.textBaseline = i % 2 ? "bottom" : "top";
    ctx.fillText(label, X(i), i % 2 ? height : 0);
  });
}

function plotContour(canvas, data) {
  const { ctx, width, height } = prepare(canvas);
  const grid = data.grid, bins = data.bins;
  const [lo, hi] = extent(grid);
  const f = frame(ctx, width, height, [0, 1], [0, 1], data.x.name, data.y.name,
    (t) => axisLabel(data.x, t), (t) => axisLabel(data.y, t));
  const cw = f.w / bins, ch = f.h / bins;
  for (let iy = 0; iy < bins; iy++) for (let ix = 0; ix < bins; ix++) {
    const v = grid[iy * bins + ix];
    if (v === null) continue;
    ctx.fillStyle = colorScale((v - lo) / (hi - lo || 1));
    ctx.fillRect(f.box.l + ix * cw, f.box.t + f.h - (iy + 1) * ch, cw + 0.5, ch + 0.5);
  }
}

// ---------- pages ----------
const app = document.getElementById("app");

function stateCounts(counts) {
  return Object.entries(counts).filter(([, c]) => c).map(([s, c]) => `${c} ${s.toLowerCase()}`).join(", ");
}

async function studiesPage() {
  const table = el("table");
  const compare = el("button", { type: "button" }, "Compare selected");
  app.append(el("div", { class: "toolbar" }, compare), el("div", { class: "scroll" }, table));
  const chosen = new Set();
  compare.addEventListener("click", () => {
    location.href = "/compare?studies=" + [...chosen].map(enc).join(",");
  });
  async function load() {
    const data = await api("/api/studies");
    table.replaceChildren(el("tr", {}, ...["", "study", "directions", "trials", "by state", "running", "best"].map((h) => el("th", {}, h))));
    for (const s of data.studies) {
      const box = el("input", { type: "checkbox" });
      box.checked = chosen.has(s.name);
      box.addEventListener("change", () => (box.checked ? chosen.add(s.name) : chosen.delete(s.name)));
      table.append(el("tr", {}, el("td", {}, box),
        el("td", {}, el("a", { href: `/studies/${enc(s.name)}` }, s.name)),
        el("td", {}, s.directions.join(", ")), el("td", {}, s.n_trials),
        el("td", {}, stateCounts(s.counts)), el("td", {}, s.running),
        el("td", {}, s.best.map((b) => fmt(b.value)).join(", "))));
    }
    if (!data.studies.length) table.append(el("tr", {}, el("td", { colspan: 7 }, "No studies in this storage yet.")));
    performance.mark("studies-drawn");
  }
  await load();
  setInterval(() => load().catch((e) => status(e.message)), 3000);
}

async function studyPage() {
  const name = INFO.study, base = `/api/studies/${enc(name)}`;
  const cards = el("div", { class: "cards" });
  const charts = el("div", { class: "grid" });
  const tableBox = el("section", { class: "panel" });
  app.append(cards, charts, tableBox);
  const history = canvasPanel("Optimisation history", charts);
  const importance = canvasPanel("Parameter importances", charts);
  const parallel = canvasPanel("Parallel coordinates", charts);
  const slice = canvasPanel("Slice", charts);
  const contour = canvasPanel("Contour (mean objective)", charts);
  const curves = canvasPanel("Intermediate values", charts);
  let pareto = null, hypervolume = null;
  const state = { cursor: 0, history: null, params: null, summary: null, lastHeavy: 0, lastImportance: 0 };
  const sliceSelect = el("select"); slice.controls.append(el("label", {}, "parameter ", sliceSelect));
  const xSelect = el("select"), ySelect = el("select");
  contour.controls.append(el("label", {}, "x ", xSelect), el("label", {}, "y ", ySelect));

  function drawSummary(s) {
    state.summary = s;
    const best = s.best.map((b) => (b.number === null ? "—" : `${fmt(b.value)} (#${b.number})`)).join(" · ");
    cards.replaceChildren(
      el("div", { class: "card" }, "trials", el("b", {}, s.n_trials)),
      el("div", { class: "card" }, "running now", el("b", {}, s.running)),
      el("div", { class: "card" }, "best", el("b", {}, best)),
      el("div", { class: "card" }, "by state", el("b", { style: "font-size:13px" }, stateCounts(s.counts) || "none")),
      el("div", { class: "card" }, "directions", el("b", {}, s.directions.join(", "))));
    if (s.directions.length > 1 && !pareto) {
      pareto = canvasPanel("Pareto front", charts);
      hypervolume = canvasPanel("Hypervolume over time", charts);
    }
  }

  function drawHistory() {
    const h = state.history;
    const until = h.points.length ? h.points[h.points.length - 1][0] : undefined;
    history.draw = () => plotXY(history.canvas, [
      { points: h.points, mode: "markers", label: "objective" },
      { points: h.best, mode: "steps", until, label: "best so far", color: COLORS[1] },
    ], "trial", `objective ${h.objective} (${h.direction})`);
    history.draw();
    history.note.textContent = `${h.n_complete} complete trials; ${h.points.length} drawn (each stretch's extremes and every improvement)`;
  }

  function addToHistory(rows) {
    const h = state.history;
    if (!h) return;
    const sign = h.direction === "maximize" ? -1 : 1;
    for (const r of rows) {
      if (r.state !== "COMPLETE" || r.values[h.objective] === null) continue;
      const v = r.values[h.objective];
      h.points.push([r.number, v]);
      h.n_complete += 1;
      const best = h.best.length ? h.best[h.best.length - 1][1] : null;
      if (best === null || sign * v < sign * best) h.best.push([r.number, v]);
    }
    h.points.sort((a, b) => a[0] - b[0]);
    h.best.sort((a, b) => a[0] - b[0]);
  }

  // ----- the trial table -----
  const table = { page: 0, size: 50, sort: "number", desc: true, state: "", q: "" };
  const stateSelect = el("select", {}, ...["", "COMPLETE", "RUNNING", "WAITING", "PRUNED", "FAIL"].map((s) => el("option", { value: s }, s || "any state")));
  const search = el("input", { type: "search", placeholder: "number or failure reason" });
  const pager = el("span");
  const prev = el("button", { type: "button" }, "‹"), next = el("button", { type: "button" }, "›");
  const download = el("span", {}, el("a", { id: "download-csv" }, "CSV"), " ", el("a", { id: "download-json" }, "JSON"));
  const grid = el("table", { id: "trials" });
  tableBox.append(el("h2", {}, "Trials"), el("div", { class: "toolbar" }, stateSelect, search, prev, pager, next, download), el("div", { class: "scroll" }, grid));
  stateSelect.addEventListener("change", () => { table.state = stateSelect.value; table.page = 0; loadTable(); });
  search.addEventListener("change", () => { table.q = search.value; table.page = 0; loadTable(); });
  prev.addEventListener("click", () => { if (table.page > 0) { table.page -= 1; loadTable(); } });
  next.addEventListener("click", () => { table.page += 1; loadTable(); });

  function query() {
    return `sort=${enc(table.sort)}&desc=${table.desc ? 1 : 0}&state=${enc(table.state)}&q=${enc(table.q)}`;
  }

  function header(label, key) {
    const mark = table.sort === key ? (table.desc ? " ▾" : " ▴") : "";
    return el("th", { onclick: () => { table.desc = table.sort === key ? !table.desc : false; table.sort = key; table.page = 0; loadTable(); } }, label + mark);
  }

  async function failTrial(number) {
    try {
      await api(`${base}/trials/${number}/fail`, { body: { reason: "marked failed in the dashboard" } });
      status(`trial ${number} marked failed`, true);
    } catch (e) { status(e.message); }
  }

  async function loadTable() {
    const data = await api(`${base}/table?page=${table.page}&size=${table.size}&${query()}`);
    const names = [...new Set(data.rows.flatMap((r) => Object.keys(r.params)))].sort();
    const objectives = state.summary ? state.summary.directions.length : 1;
    const head = el("tr", {}, header("#", "number"), header("state", "state"),
      ...[...Array(objectives).keys()].map((k) => header(objectives > 1 ? `value ${k}` : "value", `value${k}`)),
      header("duration s", "duration"), ...names.map((n) => header(n, `param:${n}`)), el("th", {}, "failure reason"), el("th", {}, ""));
    const body = data.rows.map((r) => el("tr", {},
      el("td", {}, el("a", { href: `/studies/${enc(name)}/trials/${r.number}` }, r.number)),
      el("td", { class: `state-${r.state}` }, r.state),
      ...r.values.map((v) => el("td", {}, fmt(v))),
      el("td", {}, fmt(r.duration)),
      ...names.map((n) => el("td", {}, fmt(r.params[n]))),
      el("td", { class: "reason" }, r.fail_reason || ""),
      el("td", {}, r.state === "RUNNING" && INFO.writable ? el("button", { type: "button", onclick: () => failTrial(r.number) }, "mark failed") : "")));
    grid.replaceChildren(head, ...body);
    const pages = Math.max(1, Math.ceil(data.total / table.size));
    pager.textContent = `page ${table.page + 1} of ${pages} (${data.total} trials)`;
    document.getElementById("download-csv").href = `${base}/download.csv?${query()}`;
    document.getElementById("download-json").href = `${base}/download.json?${query()}`;
    for (const r of data.rows) if (!window.__shown[r.number]) window.__shown[r.number] = { state: r.state, at: Date.now() };
    return data;
  }

  // ----- the heavier charts, refreshed at most every few seconds -----
  function fillSelect(select, names, chosen) {
    if (select.options.length === names.length) return;
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    if (chosen && names.includes(chosen)) select.value = chosen;
  }

  function drawSlice() {
    const p = state.params;
    if (!p) return;
    const i = p.axes.findIndex((a) => a.name === sliceSelect.value);
    if (i < 0) return;
    const axis = p.axes[i];
    const points = p.values.map((v, j) => [p.positions[i][j], v]).filter((q) => q[0] !== null);
    points.push([0, null], [1, null]);
    slice.draw = () => plotXY(slice.canvas, [{ points, mode: "markers" }],
      `${axis.name}${axis.log ? " (log scale)" : ""}`, "objective", (t) => axisLabel(axis, t));
    slice.draw();
    slice.note.textContent = `${p.values.length} of ${p.n_complete} complete trials (the best fifth and a random draw)`;
  }

  async function loadContour() {
    if (!xSelect.value || !ySelect.value) return;
    const c = await api(`${base}/contour?x=${enc(xSelect.value)}&y=${enc(ySelect.value)}`);
    contour.draw = () => plotContour(contour.canvas, c);
    contour.draw();
    contour.note.textContent = `mean objective of ${c.n_trials} complete trials in each cell`;
  }
  sliceSelect.addEventListener("change", drawSlice);
  xSelect.addEventListener("change", () => loadContour().catch((e) => status(e.message)));
  ySelect.addEventListener("change", () => loadContour().catch((e) => status(e.message)));

  async function loadHeavy() {
    state.lastHeavy = Date.now();
    const p = await api(`${base}/parameters`);
    state.params = p;
    parallel.draw = () => plotParallel(parallel.canvas, p);
    parallel.draw();
    parallel.note.textContent = `${p.values.length} of ${p.n_complete} complete trials; colour: objective`;
    const names = p.axes.map((a) => a.name);
    fillSelect(sliceSelect, names, names[0]);
    fillSelect(xSelect, names, names[0]);
    fillSelect(ySelect, names, names[1] || names[0]);
    drawSlice();
    const jobs = [loadContour(), api(`${base}/curves`).then((c) => {
      const r = c.rungs, series = c.curves.map((k) => ({ points: k.steps.map((s, j) => [s, k.values[j]]), mode: "line", color: COLORS[k.number % COLORS.length] }));
      const promoted = r.marks.filter((m) => m[3]).map((m) => [m[1], m[2]]);
      const stopped = r.marks.filter((m) => !m[3]).map((m) => [m[1], m[2]]);
      if (promoted.length) series.push({ points: promoted, mode: "dots", label: "promoted at a rung", color: "#2ca02c" });
      if (stopped.length) series.push({ points: stopped, mode: "dots", label: "pruned at a rung", color: "#d62728" });
      const vlines = r.lines.map(([step, label]) => ({ x: step, label: label === "warm-up ends" ? label : `rung ${step}`, dash: label === "warm-up ends" ? [1, 3] : [4, 3] }));
      curves.draw = () => plotXY(curves.canvas, series, "step", "intermediate value", undefined, vlines);
      curves.draw();
      curves.note.textContent = c.curves.length ? `${c.curves.length} trials: the latest and the best. ${r.note}` : "no trial reported intermediate values";
    })];
    if (pareto) jobs.push(api(`${base}/pareto`).then((f) => {
      const front = [
        { points: f.others.map((r) => [r[1], r[2]]), mode: "markers", label: "dominated", color: "#9aa" },
        { points: f.front.map((r) => [r[1], r[2]]), mode: "markers", label: "Pareto front", color: COLORS[1] }];
      if (f.infeasible.length) front.push({ points: f.infeasible.map((r) => [r[1], r[2]]), mode: "markers", label: "infeasible", color: "#e8a" });
      if (f.picked && f.picked.values[0] !== null && f.picked.values[1] !== null) front.push({ points: [[f.picked.values[0], f.picked.values[1]]], mode: "ring", label: `picked #${f.picked.number}`, color: "#111" });
      const names = f.directions.map((d, k) => `${f.names && f.names[k] ? f.names[k] : "objective " + k} (${d})`);
      pareto.draw = () => plotXY(pareto.canvas, front, names[0], names[1]);
      pareto.draw();
      const picked = f.picked ? `; ring: trial ${f.picked.number}, picked${f.picked.model ? ` and registered as ${f.picked.model}${f.picked.version !== undefined ? " v" + f.picked.version : ""}` : ""}` : "";
      pareto.note.textContent = `${f.front.length} feasible trials on the front, of ${f.n_complete} feasible complete${picked}`;
      const hv = f.hypervolume;
      if (!hv) { hypervolume.note.textContent = "no feasible complete trial yet"; return; }
      hypervolume.draw = () => plotXY(hypervolume.canvas, [{ points: hv.points, mode: "steps", label: "hypervolume", color: COLORS[2] }], "trial", "dominated hypervolume");
      hypervolume.draw();
      hypervolume.note.textContent = `of the front of feasible complete trials after each trial; reference point (${hv.reference.map((v, k) => `${names[k]}: ${fmt(v)}`).join(", ")}): each objective's worst value among the trials ever on the front, ${Math.round(hv.margin * 100)} % of their range beyond it`;
    }));
    await Promise.all(jobs);
  }

  async function loadImportance() {
    state.lastImportance = Date.now();
    const imp = await api(`${base}/importances`);
    const values = imp.objectives[0] || {};
    importance.draw = () => plotBars(importance.canvas, Object.keys(values), Object.values(values));
    importance.draw();
    const objectives = imp.objectives.length > 1 ? ` (objective 0 of ${imp.objectives.length})` : "";
    importance.note.textContent = (imp.warning ? imp.warning + "; " : "") + `PED-ANOVA on ${imp.n_used} of ${imp.n_complete} complete trials${objectives}`;
  }

  // ----- actions -----
  if (INFO.writable) {
    const params = el("textarea", { placeholder: '{"x": 0.5, "kind": "a"}' });
    const note = el("textarea", { placeholder: "a note about this study" });
    const enqueue = el("form", { class: "action" }, params, el("button", {}, "Enqueue trial"));
    const addNote = el("form", { class: "action" }, note, el("button", {}, "Add note"));
    enqueue.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const trial = await api(`${base}/trials`, { body: { params: JSON.parse(params.value || "{}") } });
        status(`queued trial ${trial.number}`, true);
      } catch (e) { status(e.message); }
    });
    addNote.addEventListener("submit", async (event) => {
      event.preventDefault();
      try { await api(`${base}/notes`, { body: { text: note.value } }); note.value = ""; status("note added", true); } catch (e) { status(e.message); }
    });
    app.append(el("section", { class: "panel" }, el("h2", {}, "Actions"), enqueue, addNote));
  }

  // ----- first paint, then live updates -----
  const [summary, h] = await Promise.all([api(base), api(`${base}/history`)]);
  state.cursor = summary.cursor;
  drawSummary(summary);
  state.history = h;
  drawHistory();
  performance.mark("history-drawn");
  await loadTable();
  performance.mark("table-drawn");
  performance.mark("first-meaningful-paint");
  loadHeavy().catch((e) => status(e.message));
  loadImportance().catch((e) => status(e.message));

  window.addEventListener("resize", () => {
    for (const c of [history, importance, parallel, slice, contour, curves, pareto, hypervolume]) if (c && c.draw) c.draw();
  });

  async function live() {
    for (;;) {
      let changes;
      try {
        changes = await api(`${base}/changes?cursor=${state.cursor}&wait=25`);
      } catch (e) {
        status(`live updates paused: ${e.message}`);
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      if (!changes) continue;
      state.cursor = changes.cursor;
      drawSummary(changes.summary);
      if (changes.reset) state.history = await api(`${base}/history`);
      else addToHistory(changes.rows);
      if (changes.rows.length || changes.reset) {
        drawHistory();
        await loadTable();
        // Benchmarks and tests read when each trial, in each state, reached the page.
        for (const r of changes.rows) window.__shown[r.number] = { state: r.state, at: Date.now() };
        performance.mark("update-drawn");
        const now = Date.now();
        if (now - state.lastHeavy > HEAVY_REFRESH_MS) loadHeavy().catch((e) => status(e.message));
        if (now - state.lastImportance > IMPORTANCE_REFRESH_MS) loadImportance().catch((e) => status(e.message));
      }
    }
  }
  live();
}

async function trialPage() {
  const base = `/api/studies/${enc(INFO.study)}`;
  const body = el("div");
  app.append(el("p", {}, el("a", { href: `/studies/${enc(INFO.study)}` }, `← study ${INFO.study}`)), body);
  const chart = { canvas: el("canvas") };
  async function load() {
    const t = await api(`${base}/trials/${INFO.number}`);
    const rows = (obj) => Object.entries(obj).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, typeof v === "object" ? JSON.stringify(v) : fmt(v))));
    const parts = [
      el("div", { class: "cards" },
        el("div", { class: "card" }, "state", el("b", { class: `state-${t.state}` }, t.state)),
        el("div", { class: "card" }, "values", el("b", {}, (t.values || []).map(fmt).join(", ") || "—")),
        el("div", { class: "card" }, "started", el("b", { style: "font-size:13px" }, when(t.datetime_start))),
        el("div", { class: "card" }, "finished", el("b", { style: "font-size:13px" }, when(t.datetime_complete)))),
    ];
    if (t.fail_reason) parts.push(el("p", { class: "reason" }, `Failed: ${t.fail_reason}`));
    const panels = el("div", { class: "grid" },
      el("section", { class: "panel" }, el("h2", {}, "Parameters"), el("div", { class: "scroll" }, el("table", {}, ...rows(t.params)))),
      el("section", { class: "panel" }, el("h2", {}, "Intermediate values"), chart.canvas),
      el("section", { class: "panel" }, el("h2", {}, "Attributes"), el("div", { class: "scroll" }, el("table", {}, ...rows(t.user_attrs)))),
      el("section", { class: "panel" }, el("h2", {}, "Notes"), ...t.notes.map((n) => el("p", {}, `${when(n.time)}: ${n.text}`))));
    parts.push(panels);
    if (INFO.writable) {
      const note = el("textarea", { placeholder: "a note about this trial" });
      const form = el("form", { class: "action" }, note, el("button", {}, "Add note"));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        try { await api(`${base}/notes`, { body: { text: note.value, trial: INFO.number } }); await load(); } catch (e) { status(e.message); }
      });
      parts.push(form);
      if (t.state === "RUNNING") parts.push(el("button", { type: "button", onclick: async () => {
        try { await api(`${base}/trials/${INFO.number}/fail`, { body: {} }); await load(); } catch (e) { status(e.message); }
      } }, "Mark failed"));
    }
    body.replaceChildren(...parts);
    plotXY(chart.canvas, [{ points: t.intermediate_values, mode: "line" }], "step", "intermediate value");
    performance.mark("trial-drawn");
    return t;
  }
  const first = await load();
  if (first.state === "RUNNING" || first.state === "WAITING") {
    const timer = setInterval(async () => {
      const t = await load().catch((e) => status(e.message));
      if (t && t.state !== "RUNNING" && t.state !== "WAITING") clearInterval(timer);
    }, 2000);
  }
}

async function comparePage() {
  const input = el("input", { type: "text", value: INFO.studies.join(","), placeholder: "study names, comma-separated", style: "width:min(100%,32em)" });
  const go = el("button", { type: "button", onclick: () => { location.href = "/compare?studies=" + input.value.split(",").map((s) => enc(s.trim())).filter(Boolean).join(","); } }, "Compare");
  const cards = el("div", { class: "grid" });
  const charts = el("div", { class: "grid" });
  app.append(el("div", { class: "toolbar" }, input, go), cards, charts);
  const best = canvasPanel("Best so far", charts);
  if (!INFO.studies.length) { best.note.textContent = "Choose studies on the studies page or type their names."; return; }
  async function load() {
    const all = await Promise.all(INFO.studies.map(async (name) => {
      const base = `/api/studies/${enc(name)}`;
      const [s, h] = await Promise.all([api(base), api(`${base}/history`)]);
      return { name, s, h };
    }));
    cards.replaceChildren(...all.map(({ name, s }) => el("section", { class: "panel" },
      el("h2", {}, el("a", { href: `/studies/${enc(name)}` }, name)),
      el("div", {}, `${s.n_trials} trials (${stateCounts(s.counts)}); running ${s.running}`),
      el("div", {}, `best: ${s.best.map((b) => fmt(b.value)).join(", ")}`))));
    best.draw = () => plotXY(best.canvas, all.map(({ name, h }, i) => ({
      points: h.best, mode: "steps", label: name, color: COLORS[i % COLORS.length],
      until: h.points.length ? h.points[h.points.length - 1][0] : undefined })), "trial", "best objective value");
    best.draw();
    performance.mark("compare-drawn");
  }
  await load();
  window.addEventListener("resize", () => best.draw && best.draw());
  setInterval(() => load().catch((e) => status(e.message)), 5000);
}

const pages = { studies: studiesPage, study: studyPage, trial: trialPage, compare: comparePage };
pages[INFO.page]().catch((e) => status(e.message));
