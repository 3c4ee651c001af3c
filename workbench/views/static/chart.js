// workbench/static/chart.js: draws a workbench.chart.Chart in the browser (anywidget module).
//
// The kernel keeps the chart's state: `spec` (panels and layers), `data` (columns per layer)
// and `status` (the progress line). A full copy arrives in the synced `state` trait now and
// then; between copies the kernel sends small diffs as custom messages: new rows appended at
// a row index, replaced columns, changed spec fields. This module keeps one store per chart,
// applies both, and redraws each view once per display frame (requestAnimationFrame), only
// when something changed. Canvas for the plot area; HTML for titles, legends and the status
// line, so text wraps instead of being clipped and nothing is ever drawn across a legend.

const STORES = new Map(); // chart id -> store, shared by every view of the same chart
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const CMAPS = { // a few stops each, interpolated linearly
  RdBu: ["#b2182b", "#ef8a62", "#fddbc7", "#f7f7f7", "#d1e5f0", "#67a9cf", "#2166ac"],
  viridis: ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"],
  gray: ["#000000", "#ffffff"],
};
const FONT = "12px sans-serif"; // tick labels: 12 px, readable on a projector

function storeFor(model) {
  const id = model.get("_chart_id");
  let store = STORES.get(id);
  if (!store) {
    store = { spec: { panels: {}, rows: [], layers: {} }, data: {}, status: {}, views: new Set(),
      version: 0, gaps: 0 };
    STORES.set(id, store);
    applyState(store, model.get("state"));
    model.on("change:state", () => { applyState(store, model.get("state")); touch(store); });
    model.on("msg:custom", (msg) => { applyDiff(store, msg); touch(store); });
  }
  return store;
}

function applyState(store, state) {
  if (!state || !state.spec) return;
  store.spec = JSON.parse(JSON.stringify(state.spec));
  store.data = JSON.parse(JSON.stringify(state.data || {}));
  store.status = { ...(state.status || {}) };
}

function applyDiff(store, msg) {
  for (const [name, cols] of Object.entries(msg.extend || {})) {
    const data = (store.data[name] = store.data[name] || {});
    const at = cols.at;
    const have = (data.x || []).length;
    if (at > have) { store.gaps += 1; continue; } // rows missed: the next full state fills them
    for (const [col, values] of Object.entries(cols)) {
      if (col === "at") continue;
      data[col] = (data[col] || []).slice(0, at).concat(values);
    }
  }
  for (const [name, cols] of Object.entries(msg.set || {})) {
    store.data[name] = { ...(store.data[name] || {}), ...cols };
  }
  for (const kind of ["panels", "layers"]) {
    for (const [name, fields] of Object.entries((msg.spec || {})[kind] || {})) {
      store.spec[kind][name] = { ...(store.spec[kind][name] || {}), ...fields };
    }
  }
  if (msg.spec && msg.spec.rows) store.spec.rows = msg.spec.rows;
  if (msg.status) store.status = { ...store.status, ...msg.status };
}

function touch(store) {
  store.version += 1;
  for (const view of store.views) view.schedule();
}

// --- scales and ticks --------------------------------------------------------------------
function niceStep(span, count) {
  const raw = span / Math.max(count, 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

function linearTicks(lo, hi, count) {
  const step = niceStep(hi - lo || 1, count);
  const ticks = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of hi / lo < 30 ? [1, 2, 5] : [1]) {
      const t = m * 10 ** e;
      if (t >= lo && t <= hi) ticks.push(t);
    }
  }
  return ticks;
}

function fmt(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
  return String(+v.toPrecision(3));
}

function growX(panel, last) {
  // the x axis grows with the run, with room ahead, up to the planned end
  if (panel.xlim) return panel.xlim;
  const start = panel.x_start ?? 0;
  let end = Math.max(last, start + 1) * (1 + (panel.x_room ?? 0.25));
  end = Math.max(end, start + (panel.x_min_span ?? 10));
  const step = niceStep(end - start, 5);
  end = Math.ceil(end / step) * step;
  if (panel.x_limit != null) end = Math.max(Math.min(end, panel.x_limit), last);
  return [start, end];
}

function finite(v, log) { return v != null && Number.isFinite(v) && (!log || v > 0); }

function panelRanges(store, name, panel, log) {
  let lastX = -Infinity, ylo = Infinity, yhi = -Infinity, xlo = Infinity, xhi = -Infinity;
  let image = false; // a heat map fills its panel exactly: no padding around it
  for (const [lname, layer] of Object.entries(store.spec.layers)) {
    if (layer.panel !== name || layer.visible === false) continue;
    const d = store.data[lname] || {};
    if (layer.kind === "image" && d.extent) {
      image = true;
      [xlo, xhi] = [Math.min(xlo, d.extent[0]), Math.max(xhi, d.extent[1])];
      [ylo, yhi] = [Math.min(ylo, d.extent[2]), Math.max(yhi, d.extent[3])];
      lastX = Math.max(lastX, d.extent[1]);
      continue;
    }
    if (layer.kind === "vline") continue;
    if (layer.kind === "hline") { // a threshold stays in view
      if (finite(d.x, log)) { ylo = Math.min(ylo, d.x); yhi = Math.max(yhi, d.x); }
      continue;
    }
    const xs = d.x || [], ys = d.y || [];
    for (let i = 0; i < xs.length; i++) {
      if (!finite(ys[i], log) || !Number.isFinite(xs[i])) continue;
      lastX = Math.max(lastX, xs[i]);
      xlo = Math.min(xlo, xs[i]);
      ylo = Math.min(ylo, ys[i]);
      yhi = Math.max(yhi, ys[i]);
    }
  }
  const grow = panel.x_grow !== false;
  let x = grow ? growX(panel, Number.isFinite(lastX) ? lastX : 0)
    : panel.xlim || (Number.isFinite(xlo) ? [xlo, xhi] : [0, 1]);
  if (!Number.isFinite(ylo)) [ylo, yhi] = log ? [0.1, 1] : [0, 1];
  if (panel.ylim) [ylo, yhi] = panel.ylim;
  else if (image) { /* the extent is the range */ }
  else if (log) { ylo /= 1.15; yhi *= 1.15; }
  else {
    if (panel.y_zero) ylo = Math.min(ylo, 0);
    const pad = 0.05 * (yhi - ylo || Math.abs(yhi) || 1);
    ylo -= panel.y_zero && ylo === 0 ? 0 : pad;
    yhi += pad;
  }
  if (x[0] === x[1]) x = [x[0] - 0.5, x[1] + 0.5];
  return { x, y: [ylo, yhi], last: Number.isFinite(lastX) ? lastX : null };
}

function marksOf(store) {
  // the marks on show (vertical lines and points), e.g. for a test to check the last frame
  const marks = [];
  for (const [name, layer] of Object.entries(store.spec.layers)) {
    const d = store.data[name] || {};
    if (layer.kind === "vline" && d.x != null) marks.push({ name, x: d.x, text: layer.text || "" });
    if (layer.kind === "points" && (d.x || []).length) marks.push({ name, x: d.x, label: layer.label || "" });
  }
  return marks;
}

function colorAt(cmap, t) {
  const stops = (CMAPS[cmap] || CMAPS.RdBu).map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  t = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0.5)) * (stops.length - 1);
  const i = Math.min(Math.floor(t), stops.length - 2), f = t - i;
  return stops[i].map((c, k) => Math.round(c + f * (stops[i + 1][k] - c)));
}

// --- drawing one panel ---------------------------------------------------------------------
function drawPanel(view, store, name, box) {
  const panel = store.spec.panels[name];
  const { canvas, legend, title, logBox } = box;
  const log = !!(logBox ? logBox.checked : panel.logy);
  title.textContent = panel.title || "";
  title.style.display = panel.title ? "" : "none";
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return null;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = FONT;
  const r = panelRanges(store, name, panel, log);
  const yt = log ? logTicks(r.y[0], r.y[1]) : linearTicks(r.y[0], r.y[1], Math.max(2, Math.floor(h / 45)));
  const xt = linearTicks(r.x[0], r.x[1], Math.max(2, Math.floor(w / 90)));
  const labelW = Math.max(...yt.map((t) => ctx.measureText(fmt(t)).width), 10);
  const m = { l: labelW + (panel.ylabel ? 24 : 10), r: 12, t: 10, b: panel.xlabel ? 36 : 22 };
  const pw = w - m.l - m.r, ph = h - m.t - m.b;
  const ty = (v) => log ? Math.log(v / r.y[0]) / Math.log(r.y[1] / r.y[0]) : (v - r.y[0]) / (r.y[1] - r.y[0]);
  const sx = (v) => m.l + ((v - r.x[0]) / (r.x[1] - r.x[0])) * pw;
  const sy = (v) => m.t + (1 - ty(v)) * ph;
  // grid and ticks
  ctx.strokeStyle = "#e4e4e4"; ctx.lineWidth = 1; ctx.fillStyle = "#333";
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const t of yt) {
    const y = Math.round(sy(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(m.l, y); ctx.lineTo(m.l + pw, y); ctx.stroke();
    ctx.fillText(fmt(t), m.l - 5, y);
  }
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (const t of xt) {
    const x = Math.round(sx(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x, m.t); ctx.lineTo(x, m.t + ph); ctx.stroke();
    ctx.fillText(fmt(t), x, m.t + ph + 4);
  }
  if (panel.xlabel) ctx.fillText(panel.xlabel, m.l + pw / 2, h - 16);
  if (panel.ylabel) {
    ctx.save(); ctx.translate(12, m.t + ph / 2); ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle"; ctx.fillText(panel.ylabel, 0, 0); ctx.restore();
  }
  ctx.save();
  ctx.beginPath(); ctx.rect(m.l, m.t, pw, ph); ctx.clip();
  const entries = [];
  let n = 0;
  for (const [lname, layer] of Object.entries(store.spec.layers)) {
    if (layer.panel !== name || layer.visible === false) continue;
    const d = store.data[lname] || {};
    const color = layer.color || PALETTE[n++ % PALETTE.length];
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.lineWidth = layer.width || 2;
    ctx.setLineDash(layer.dash ? [6, 4] : []);
    if (layer.kind === "image" && d.z && d.z.length && d.extent) {
      drawImage(ctx, layer, d, sx, sy);
    } else if (layer.kind === "line") {
      const xs = d.x || [], ys = d.y || [];
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < xs.length; i++) {
        if (!finite(ys[i], log)) { pen = false; continue; }
        const X = sx(xs[i]), Y = sy(ys[i]);
        if (pen) ctx.lineTo(X, Y); else ctx.moveTo(X, Y);
        pen = true;
      }
      ctx.stroke();
    } else if (layer.kind === "points") {
      const xs = d.x || [], ys = d.y || [], cs = d.c;
      ctx.setLineDash([]); ctx.lineWidth = 1; ctx.strokeStyle = layer.edge || "#fff";
      for (let i = 0; i < xs.length; i++) {
        if (!finite(ys[i], log)) continue;
        if (cs) ctx.fillStyle = typeof cs[i] === "string" ? cs[i] : PALETTE[cs[i] % PALETTE.length];
        ctx.beginPath(); ctx.arc(sx(xs[i]), sy(ys[i]), layer.size || 4, 0, 2 * Math.PI);
        ctx.fill(); if (layer.edge !== null) ctx.stroke();
      }
    } else if ((layer.kind === "vline" || layer.kind === "hline") && d.x != null && Number.isFinite(d.x)) {
      const vertical = layer.kind === "vline";
      if (!vertical && !finite(d.x, log)) continue;
      const p = Math.round(vertical ? sx(d.x) : sy(d.x)) + 0.5;
      ctx.beginPath();
      if (vertical) { ctx.moveTo(p, m.t); ctx.lineTo(p, m.t + ph); } else { ctx.moveTo(m.l, p); ctx.lineTo(m.l + pw, p); }
      ctx.stroke();
      if (layer.text) { // a short label next to the line, on a white box, inside the plot
        ctx.setLineDash([]);
        const tw = ctx.measureText(layer.text).width;
        let tx = vertical ? p + 4 : m.l + pw - tw - 4, yy = vertical ? m.t + 3 : p - 17;
        if (!vertical && yy < m.t) yy = p + 3; // no room above the line: write it below
        if (vertical && tx + tw > m.l + pw) tx = p - tw - 4;
        ctx.fillStyle = "rgba(255,255,255,0.85)"; ctx.fillRect(tx - 2, yy, tw + 4, 15);
        ctx.fillStyle = color; ctx.textAlign = "left"; ctx.textBaseline = "top";
        ctx.fillText(layer.text, tx, yy + 1);
      }
    }
    if (layer.label) entries.push([layer, color]);
  }
  ctx.restore();
  ctx.setLineDash([]); ctx.strokeStyle = "#888"; ctx.lineWidth = 1;
  ctx.strokeRect(m.l + 0.5, m.t + 0.5, pw, ph);
  drawLegend(legend, entries);
  return r;
}

function drawImage(ctx, layer, d, sx, sy) {
  const rows = d.z.length, cols = d.z[0].length;
  const off = document.createElement("canvas");
  off.width = cols; off.height = rows;
  const img = off.getContext("2d").createImageData(cols, rows);
  const flat = d.z.flat().filter(Number.isFinite);
  const lo = layer.vmin ?? Math.min(...flat), hi = layer.vmax ?? Math.max(...flat);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      // row 0 is the bottom (lowest y), as in matplotlib's origin="lower"
      const k = ((rows - 1 - i) * cols + j) * 4;
      const [r, g, b] = colorAt(layer.cmap, (d.z[i][j] - lo) / (hi - lo || 1));
      img.data.set([r, g, b, Math.round(255 * (layer.alpha ?? 1))], k);
    }
  }
  off.getContext("2d").putImageData(img, 0, 0);
  const [x0, x1, y0, y1] = d.extent;
  ctx.imageSmoothingEnabled = layer.smooth !== false;
  ctx.drawImage(off, sx(x0), sy(y1), sx(x1) - sx(x0), sy(y0) - sy(y1));
}

function drawLegend(legend, entries) {
  const key = JSON.stringify(entries.map(([l, c]) => [l.label, c, l.kind, !!l.dash]));
  if (legend.dataset.key === key) return;
  legend.dataset.key = key;
  legend.replaceChildren(...entries.map(([layer, color]) => {
    const item = make("wb-legend-item", "span");
    const swatch = document.createElement("span");
    swatch.className = "wb-swatch wb-swatch-" + layer.kind;
    swatch.style.borderColor = color;
    if (layer.kind === "points") swatch.style.background = color;
    if (layer.dash) swatch.style.borderTopStyle = "dashed";
    if (layer.kind === "vline") swatch.style.borderTopStyle = "dotted";
    item.append(swatch, document.createTextNode(layer.label));
    return item;
  }));
}

// --- a view: DOM skeleton, status line, frame loop ---------------------------------------------
function make(className, tag = "div") {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

function render({ model, el }) {
  const store = storeFor(model);
  const root = make("wb-chart");
  const status = make("wb-status");
  const bar = make("wb-bar");
  const fill = make("wb-bar-fill");
  bar.append(fill);
  const text = make("wb-status-text", "span");
  status.append(bar, text);
  const grid = make("wb-rows");
  root.append(status, grid);
  el.append(root);
  let boxes = {}, layoutKey = "", pending = 0, frames = 0, drawn = -1;

  function layout() {
    const key = JSON.stringify([store.spec.rows, store.spec.height,
      Object.entries(store.spec.panels).map(([n, p]) => [n, p.height, p.log_toggle, p.logy])]);
    if (key === layoutKey) return;
    layoutKey = key;
    boxes = {};
    grid.replaceChildren();
    for (const row of store.spec.rows) {
      const rowEl = make("wb-row");
      for (const name of row) {
        const panel = store.spec.panels[name] || {};
        const box = make("wb-panel");
        box.dataset.panel = name;
        const head = make("wb-head");
        const title = make("wb-title");
        const legend = make("wb-legend");
        head.append(title);
        let logBox = null;
        if (panel.log_toggle) {
          const lab = make("wb-toggle", "label");
          logBox = document.createElement("input");
          logBox.type = "checkbox";
          logBox.checked = !!panel.logy;
          logBox.addEventListener("change", () => { drawn = -1; schedule(); });
          lab.append(logBox, document.createTextNode(" log scale"));
          head.append(lab);
        }
        const canvas = document.createElement("canvas");
        canvas.style.height = Math.round((store.spec.height || 220) * (panel.height ?? 1)) + "px";
        box.append(head, legend, canvas);
        rowEl.append(box);
        boxes[name] = { canvas, legend, title, logBox };
      }
      grid.append(rowEl);
    }
  }

  function draw() {
    pending = 0;
    if (drawn === store.version) return;
    drawn = store.version;
    layout();
    const s = store.status || {};
    status.style.display = s.text ? "" : "none";
    status.dataset.state = s.state || "running";
    fill.style.width = (100 * Math.min(1, Math.max(0, s.progress ?? 0))) + "%";
    bar.style.display = s.progress == null ? "none" : "";
    text.textContent = s.text || "";
    let lastX = null;
    for (const [name, box] of Object.entries(boxes)) {
      const r = drawPanel(view, store, name, box);
      if (r && r.last != null) lastX = Math.max(lastX ?? r.last, r.last);
    }
    frames += 1;
    // read by tests: the frame count, the x the status line names, the last x drawn, marks
    // and the rows each line or points layer holds
    root.dataset.frame = String(frames);
    root.dataset.x = String(s.x ?? "");
    root.dataset.lastX = String(lastX ?? "");
    root.dataset.marks = JSON.stringify(marksOf(store));
    root.dataset.points = JSON.stringify(Object.fromEntries(Object.entries(store.data)
      .filter(([, d]) => Array.isArray(d.x)).map(([name, d]) => [name, d.x.length])));
  }

  function schedule() {
    if (!pending) pending = requestAnimationFrame(draw);
  }

  const view = { schedule };
  store.views.add(view);
  const resize = new ResizeObserver(() => { drawn = -1; schedule(); });
  resize.observe(root);
  schedule();
  return () => {
    store.views.delete(view);
    resize.disconnect();
    if (pending) cancelAnimationFrame(pending);
  };
}

export default { initialize({ model }) { storeFor(model); }, render };
