// The job page's charts (Chart.js 4, loaded as window.Chart by a <script> before this module).
// Animation is off everywhere and point data is pre-parsed ({x, y} objects), so a job with
// ten thousand candidates still draws at once. Colours come from the stylesheet's custom
// properties, so the charts follow the light or dark scheme; every chart has a data table
// under it (a <details>), for keyboards and screen readers.
import { cssVar, el, fmtCount, fmtMs, fmtPercent, fmtPercentTick } from "./common.js";

const Chart = window.Chart;

const HOLLOW = "rgba(0,0,0,0)";
const TABLE_ROWS = 500; // a data table shows this many rows at most (the leaderboard pages)

export const COLORS = {
  search: "rgba(37, 99, 235, 0.55)",
  searchLine: "#2563eb",
  pareto: "#ea580c",
  infeasible: "rgba(148, 156, 168, 0.45)",
  infeasibleLine: "#8b95a3",
  uniform: "#16a34a",
  global: "#9333ea",
  sensitivity: "#0891b2",
  reference: "#111827",
  budget: "#dc2626",
  original: "#e2e8f0",
  kept: "#2563eb",
  grid: "#eef1f4",
  text: "#5f6b7a",
  card: "#ffffff",
};

/** The colours of the current scheme (light or dark), read from the stylesheet. */
function applyScheme() {
  for (const key of Object.keys(COLORS)) {
    const name = `--chart-${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    COLORS[key] = cssVar(name, COLORS[key]);
  }
  Chart.defaults.color = COLORS.text;
}

Chart.defaults.animation = false;
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
Chart.defaults.font.size = 12;
applyScheme();
// The system's scheme can change while the page is open: the page redraws its charts.
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyScheme);
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.plugins.legend.labels.usePointStyle = true;
Chart.defaults.plugins.legend.labels.boxHeight = 8;

// Whether two rectangles ({x, y, w, h}, y downwards) overlap.
function overlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** Where the unpruned model's label goes: the first corner of the line where it covers
 * nothing in `avoid` (boxes with a weight: the selected point outweighs the budget's label),
 * trying a short text when the long one fits nowhere (on a phone it spans the plot); else
 * the spot that covers least. Returns {x, y, w, h, text}. */
function placeLabel(ctx, chartArea, y, texts, avoid) {
  const options = [];
  for (const text of texts) {
    const width = ctx.measureText(text).width;
    const height = 13;
    for (const spot of [
      { x: chartArea.left + 6, y: y - 5 - height + 2 },
      { x: chartArea.right - 6 - width, y: y - 5 - height + 2 },
      { x: chartArea.left + 6, y: y + 5 },
      { x: chartArea.right - 6 - width, y: y + 5 },
    ]) {
      const box = { ...spot, w: width, h: height, text };
      const cost = avoid.reduce((sum, other) => sum + (overlaps(box, other) ? other.weight : 0), 0);
      if (cost === 0) return box;
      options.push({ box, cost });
    }
  }
  options.sort((a, b) => a.cost - b.cost);
  return options[0].box;
}

/**
 * Draws the budget as a dashed vertical line at options.budget on the x scale, and the
 * unpruned model's score as a dotted horizontal line at options.reference on the y scale
 * (or, when the y range could not take it in, an arrow at the edge saying it is off scale).
 * What it drew is left on the canvas's data attributes (reference, referenceLabel, budget).
 */
const guideLines = {
  id: "guideLines",
  afterDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea, scales } = chart;
    const canvas = chart.canvas;
    const font = `600 11px ${Chart.defaults.font.family}`;
    ctx.save();
    ctx.lineWidth = 1.5;
    ctx.font = font;
    canvas.dataset.reference = "none";
    canvas.dataset.budget = "none";
    if (options.reference !== null && options.reference !== undefined) {
      const y = scales.y.getPixelForValue(options.reference);
      ctx.strokeStyle = COLORS.reference;
      ctx.fillStyle = COLORS.reference;
      const avoid = [];
      // The budget's label (drawn below, at the top of its line) and the selected point.
      if (options.budget !== null && options.budget !== undefined) {
        const bx = scales.x.getPixelForValue(options.budget);
        const bw = ctx.measureText(options.budgetLabel || "budget").width;
        const right = bx > chartArea.right - 80;
        avoid.push({ x: right ? bx - 5 - bw : bx - 3, y: chartArea.top, w: bw + 8, h: 16, weight: 1 });
      }
      chart.data.datasets.forEach((set, i) => {
        if (set.label !== "selected") return;
        for (const point of chart.getDatasetMeta(i).data) avoid.push({ x: point.x - 14, y: point.y - 14, w: 28, h: 28, weight: 10 });
      });
      if (y >= chartArea.top - 1 && y <= chartArea.bottom + 1) {
        ctx.setLineDash([2, 3]);
        ctx.beginPath();
        ctx.moveTo(chartArea.left, y);
        ctx.lineTo(chartArea.right, y);
        ctx.stroke();
        const spot = placeLabel(ctx, chartArea, y, [options.referenceLabel || "unpruned", options.referenceShort || "unpruned"], avoid);
        ctx.textAlign = "left";
        ctx.textBaseline = "top";
        ctx.fillText(spot.text, spot.x, spot.y);
        canvas.dataset.reference = "line";
        canvas.dataset.referenceLabel = JSON.stringify(spot);
      } else {
        // Off scale: an arrow at the edge it lies beyond, with the figure.
        const above = y < chartArea.top;
        const arrow = above ? "▲" : "▼";
        const texts = [options.referenceLabel || "unpruned", options.referenceShort || "unpruned"]
          .map((text) => `${arrow} ${text} (off scale)`);
        const edge = above ? chartArea.top + 2 : chartArea.bottom - 15;
        const spot = placeLabel(ctx, chartArea, edge + 16, texts, avoid);
        ctx.textAlign = "left";
        ctx.textBaseline = "top";
        ctx.fillText(spot.text, spot.x, edge);
        canvas.dataset.reference = above ? "off-scale-above" : "off-scale-below";
        canvas.dataset.referenceLabel = JSON.stringify({ ...spot, y: edge });
      }
    }
    ctx.textBaseline = "alphabetic";
    if (options.budget !== null && options.budget !== undefined) {
      const x = scales.x.getPixelForValue(options.budget);
      if (x >= chartArea.left - 1 && x <= chartArea.right + 1) {
        canvas.dataset.budget = "line";
        ctx.strokeStyle = COLORS.budget;
        ctx.fillStyle = COLORS.budget;
        ctx.setLineDash([6, 4]);
        ctx.beginPath();
        ctx.moveTo(x, chartArea.top);
        ctx.lineTo(x, chartArea.bottom);
        ctx.stroke();
        ctx.textAlign = x > chartArea.right - 80 ? "right" : "left";
        ctx.fillText(options.budgetLabel || "budget", x + (ctx.textAlign === "left" ? 5 : -5), chartArea.top + 12);
      }
    }
    ctx.restore();
  },
};

function message(id, text) {
  const node = document.getElementById(id);
  node.hidden = !text;
  node.textContent = text || "";
}

function replaceChart(canvasId, config) {
  removeChart(canvasId);
  return new Chart(document.getElementById(canvasId), config);
}

// No empty axes: a chart with nothing to show is removed and its message says why.
function removeChart(canvasId) {
  const existing = Chart.getChart(canvasId);
  if (existing) existing.destroy();
}

// -- data tables under the charts --

const tables = {};

/** Gives the <details id=detailsId> under a chart its rows (drawn when it is open). */
function setTable(detailsId, headers, rows) {
  tables[detailsId] = { headers, rows };
  const details = document.getElementById(detailsId);
  if (!details) return;
  if (!details.dataset.wired) {
    details.dataset.wired = "1";
    details.addEventListener("toggle", () => renderTable(detailsId));
  }
  renderTable(detailsId);
}

function renderTable(detailsId) {
  const details = document.getElementById(detailsId);
  if (!details.open) return;
  const { headers, rows } = tables[detailsId] || { headers: [], rows: [] };
  const wrap = details.querySelector(".table-wrap");
  if (!rows.length) {
    wrap.replaceChildren(el("p", { class: "muted small" }, "No data yet."));
    return;
  }
  const shown = rows.slice(0, TABLE_ROWS);
  wrap.replaceChildren(
    el("table", { class: "data" },
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, shown.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell)))))),
    rows.length > shown.length
      ? el("p", { class: "muted small" }, `The first ${shown.length.toLocaleString("en-US")} of ${rows.length.toLocaleString("en-US")} rows; the leaderboard pages through all of them.`)
      : null,
  );
}

/** How latency is measured, from the job's spec (the REST gives no spread yet). */
export function latencyNote(spec) {
  const latency = (spec && spec.budget && spec.budget.latency) || {};
  const where = [latency.device || "cpu", `batch ${latency.batch_size || 1}`, `${latency.threads || 1} thread${(latency.threads || 1) === 1 ? "" : "s"}`];
  return `the median of timed runs (${where.join(", ")}), after warm-up; runs vary, so a candidate near the budget can land on either side.`;
}

/** A stage's short name: finals are validation accuracy, the rest search-split scores. */
function stageName(fidelity) {
  return fidelity === "final" ? "final (val)" : `${fidelity} (search split)`;
}

const AXES = {
  macs: { key: "macs", budget: "max_macs", title: "MACs (multiply-accumulates per sample)", fmt: fmtCount },
  latency_ms: { key: "latency_ms", budget: "max_latency_ms", title: "latency (ms)", fmt: (v) => (v === null || v === undefined ? fmtMs(v) : `${Number(v.toPrecision(3))} ms`) },
};

/** The y range of the Pareto plot: the scores, and the unpruned model's when it fits
 * without squeezing them (else its label says it is off scale). Never past 100 %. */
function scoreRange(ys, refScore) {
  if (!ys.length) return {};
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  const span = Math.max(hi - lo, 0.01);
  if (refScore !== null && refScore !== undefined) {
    const wide = Math.max(hi, refScore) - Math.min(lo, refScore);
    if (wide <= Math.max(4 * span, 0.1)) {
      lo = Math.min(lo, refScore);
      hi = Math.max(hi, refScore);
    }
  }
  const pad = Math.max((hi - lo) * 0.06, 0.002);
  const range = { suggestedMin: Math.max(0, lo - pad), suggestedMax: Math.min(1, hi + pad) };
  if (hi + pad >= 1) range.max = 1;
  return range;
}

/**
 * The Pareto plot: every candidate's score against its MACs (or latency), the front joined,
 * baselines and the unpruned model marked, infeasible ones grey, the budget as a line.
 * Finals (validation accuracy) are filled markers, earlier stages (search-split scores)
 * hollow ones of the same shape, each in its own legend entry.
 * onSelect(number) is called when a point is clicked; `ended` (a final status) words the
 * message of a job that ended with nothing to plot.
 */
export function drawPareto(data, { axis = "macs", selected = null, ended = null, onSelect }) {
  const spec = AXES[axis];
  const points = (data && data.points) || [];
  const usable = points.filter((p) => p[spec.key] !== null && p[spec.key] !== undefined
    && p.score !== null && p.score !== undefined);
  const xy = (p) => ({
    x: p[spec.key], y: p.score, n: p.number, kind: p.kind, feasible: p.feasible, fidelity: p.fidelity, iqr: p.latency_iqr_ms,
  });
  const groups = {
    search: [], earlier: [], pareto: [], infeasible: [], infeasibleEarlier: [],
    uniform: [], global: [], sensitivity: [], uniformEarlier: [], globalEarlier: [], sensitivityEarlier: [],
  };
  const finals = usable.some((p) => p.fidelity === "final");
  for (const p of usable) {
    const final = p.fidelity === "final";
    if (p.kind in groups && p.kind !== "search") groups[final ? p.kind : `${p.kind}Earlier`].push(xy(p));
    else if (!p.feasible) groups[final ? "infeasible" : "infeasibleEarlier"].push(xy(p));
    else if (!p.pareto) groups[final ? "search" : "earlier"].push(xy(p));
    if (p.pareto && p.feasible) groups.pareto.push(xy(p));
  }
  groups.pareto.sort((a, b) => a.x - b.x);
  const frontFinal = groups.pareto.length > 0 && groups.pareto.every((p) => p.fidelity === "final");
  const reference = data && data.reference;
  const refScore = reference && reference.val_accuracy !== undefined ? reference.val_accuracy : null;
  const refX = reference && reference[spec.key] !== undefined ? reference[spec.key] : null;
  const budget = data && data.budget ? data.budget[spec.budget] : null;
  const selectedPoint = usable.filter((p) => p.number === selected).map(xy);
  const canvas = document.getElementById("pareto-chart");

  setTable("pareto-table", ["trial", "kind", "stage", "score", axis === "macs" ? "MACs" : "latency (ms)", "feasible", "Pareto"],
    usable.map((p) => [`#${p.number}`, p.kind, stageName(p.fidelity), fmtPercent(p.score, 2), spec.fmt(p[spec.key]),
      p.feasible ? "yes" : "no (over budget)", p.pareto ? "yes" : "no"]));

  if (!usable.length) {
    let text;
    if (points.length) text = `No candidate has a ${axis === "macs" ? "MAC count" : "latency"} and a score yet.`;
    else if (ended) {
      const how = { cancelled: "was cancelled", failed: "failed" }[ended] || "ended";
      text = `No candidate was scored: the job ${how} before any trial finished.`;
    }
    else text = "No candidates yet: the plot fills in as trials finish.";
    message("pareto-message", text);
    removeChart("pareto-chart");
    canvas.dataset.points = "0";
    return null;
  }
  message("pareto-message", "");

  const scatter = (label, rows, style) => ({
    type: "scatter", label, data: rows, parsing: false, ...style,
  });
  const baseline = (kind, shape, radius) => [
    scatter(`${kind} baseline`, groups[kind], { pointStyle: shape, backgroundColor: COLORS[kind], borderColor: COLORS.card, borderWidth: 1, pointRadius: radius, pointHoverRadius: radius + 2, order: 1 }),
    scatter(`${kind} baseline (screen/rung, search split)`, groups[`${kind}Earlier`], { pointStyle: shape, backgroundColor: HOLLOW, borderColor: COLORS[kind], borderWidth: 2, pointRadius: radius - 1, pointHoverRadius: radius + 1, order: 1 }),
  ];
  const datasets = [
    scatter("search (final)", groups.search, { backgroundColor: COLORS.search, borderColor: COLORS.searchLine, borderWidth: 0, pointRadius: 3.5, pointHoverRadius: 6, order: 4 }),
    scatter("search (screen/rung, search split)", groups.earlier, { backgroundColor: HOLLOW, borderColor: COLORS.searchLine, borderWidth: 1, pointRadius: 3, pointHoverRadius: 6, order: 6 }),
    scatter(frontFinal ? "Pareto front (final)" : "Pareto front (screen/rung, search split)", groups.pareto, {
      showLine: true, borderColor: COLORS.pareto, backgroundColor: frontFinal ? COLORS.pareto : HOLLOW, borderWidth: 1.5,
      pointRadius: 5, pointHoverRadius: 7, order: 3,
    }),
    scatter("infeasible (final)", groups.infeasible, { backgroundColor: COLORS.infeasible, borderWidth: 0, pointRadius: 3, pointHoverRadius: 5, order: 5 }),
    scatter("infeasible (screen/rung)", groups.infeasibleEarlier, { backgroundColor: HOLLOW, borderColor: COLORS.infeasibleLine, borderWidth: 1, pointRadius: 3, pointHoverRadius: 5, order: 5 }),
    ...baseline("uniform", "triangle", 9),
    ...baseline("global", "rectRot", 9),
    ...baseline("sensitivity", "rect", 8),
    { type: "line", label: "unpruned model", data: [], borderColor: COLORS.reference, borderDash: [2, 3], borderWidth: 1.5, pointStyle: "line", pointRadius: 0, hidden: refScore === null },
    { type: "line", label: "budget", data: [], borderColor: COLORS.budget, borderDash: [6, 4], borderWidth: 1.5, pointStyle: "line", pointRadius: 0, hidden: budget === null || budget === undefined },
    scatter("selected", selectedPoint, { pointStyle: "circle", backgroundColor: HOLLOW, borderColor: COLORS.reference, borderWidth: 2.5, pointRadius: 11, pointHoverRadius: 11, order: 0 }),
  ];
  // The x range covers the candidates and the budget (not the unpruned model, which would
  // squeeze them into a corner); its score is the dotted line.
  const xs = usable.map((p) => p[spec.key]);
  if (budget !== null && budget !== undefined) xs.push(budget);
  const ys = usable.map((p) => p.score);
  const [xMin, xMax] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  const pad = (xMax - xMin) * 0.08 || xMax * 0.05 || 1;
  // Latency is a median of timed runs; its spread shows where the REST gives one.
  const latencyHint = (raw) => {
    if (axis !== "latency_ms") return "";
    return raw && raw.iqr !== null && raw.iqr !== undefined
      ? `latency: median of timed runs, IQR ${fmtMs(raw.iqr)}`
      : "latency: median of timed runs (spread not reported)";
  };
  const chart = replaceChart("pareto-chart", {
    type: "scatter",
    data: { datasets },
    options: {
      normalized: false,
      interaction: { mode: "nearest", intersect: true },
      scales: {
        x: {
          type: "linear", min: Math.max(0, xMin - pad), max: xMax + pad,
          title: { display: true, text: spec.title },
          ticks: { callback: (value) => spec.fmt(value) },
          grid: { color: COLORS.grid },
        },
        y: {
          title: {
            display: true,
            // Two short lines, so that the whole title fits the plot's height (one line was
            // cut off); the legend tells the markers apart.
            text: finals
              ? ["validation accuracy (finals)", "search-split accuracy (hollow)"]
              : "search-split accuracy (no finals yet)",
          },
          ...scoreRange(ys, refScore),
          ticks: { callback: fmtPercentTick },
          grid: { color: COLORS.grid },
        },
      },
      plugins: {
        guideLines: {
          budget, budgetLabel: `budget ${spec.fmt(budget)}`,
          reference: refScore, referenceLabel: `unpruned ${fmtPercent(refScore)}${refX !== null ? ` at ${spec.fmt(refX)}` : ""}`,
          referenceShort: `unpruned ${fmtPercent(refScore)}`,
        },
        legend: {
          position: "bottom",
          labels: { filter: (item, chartData) => {
            const set = chartData.datasets[item.datasetIndex];
            return item.text !== "selected" && !(set.type === "line" && set.hidden)
              && (set.type === "line" || set.data.length > 0);
          } },
        },
        tooltip: {
          // A point can sit in several datasets (the front, a baseline, the selection ring).
          filter: (item, index, items) => items.findIndex((other) => other.raw.n === item.raw.n) === index,
          callbacks: {
            label: (ctx) => {
              const raw = ctx.raw;
              const who = `#${raw.n} ${raw.kind}${raw.fidelity ? ` (${stageName(raw.fidelity)})` : ""}`;
              return `${who}: ${fmtPercent(raw.y)} at ${spec.fmt(raw.x)}${raw.feasible === false ? " (over budget)" : ""}`;
            },
            footer: (items) => latencyHint(items.length ? items[0].raw : null),
          },
        },
      },
      onClick: (event, _elements, chartRef) => {
        const hits = chartRef.getElementsAtEventForMode(event, "nearest", { intersect: true }, false);
        for (const hit of hits) {
          const raw = chartRef.data.datasets[hit.datasetIndex].data[hit.index];
          if (raw && raw.n !== null && raw.n !== undefined) {
            onSelect(raw.n);
            return;
          }
        }
      },
      onHover: (event, elements) => {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      },
    },
    plugins: [guideLines],
  });
  chart.canvas.dataset.points = String(usable.length);
  return chart;
}

/** Moves the ring that marks the selected candidate on the Pareto plot. */
export function markSelected(data, axis, number) {
  const chart = Chart.getChart("pareto-chart");
  if (!chart) return;
  const key = AXES[axis].key;
  const point = ((data && data.points) || []).find((p) => p.number === number);
  const set = chart.data.datasets.find((d) => d.label === "selected");
  set.data = point && point[key] !== null && point.score !== null
    ? [{ x: point[key], y: point.score, n: point.number, kind: point.kind }] : [];
  chart.update("none");
}

/** Kept channels against the original count per layer (or kept fractions, for old jobs). */
export function drawLayers(candidate) {
  const layers = (candidate && candidate.layers) || [];
  setTable("layers-table", ["layer", "kind", "group", "original", "kept", "removed"],
    layers.map((l) => [l.name, l.kind || "–", l.group ?? "–", l.original ?? "–", l.kept ?? "–", fmtPercent(l.ratio, 0)]));
  if (!layers.length) {
    removeChart("layers-chart");
    message("layers-message", candidate ? "This candidate has no per-layer figures." : "Select a candidate in the table or the plot.");
    return null;
  }
  message("layers-message", "");
  const counts = layers.every((l) => l.original !== null && l.original !== undefined && l.kept !== null && l.kept !== undefined);
  const labels = layers.map((l) => l.name);
  const original = layers.map((l) => (counts ? l.original : 1));
  const kept = layers.map((l) => (counts ? l.kept : 1 - (l.ratio || 0)));
  const chart = replaceChart("layers-chart", {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: counts ? "original channels" : "original", data: original, backgroundColor: COLORS.original, grouped: false, barPercentage: 0.9, categoryPercentage: 0.9, order: 2 },
        { label: counts ? "kept channels" : "kept fraction", data: kept, backgroundColor: COLORS.kept, grouped: false, barPercentage: 0.55, categoryPercentage: 0.9, order: 1 },
      ],
    },
    options: {
      scales: {
        x: { grid: { display: false }, ticks: { autoSkip: false, maxRotation: 60, minRotation: labels.length > 8 ? 45 : 0 } },
        y: {
          beginAtZero: true,
          title: { display: true, text: counts ? "channels" : "fraction kept" },
          ticks: counts ? { precision: 0 } : { callback: fmtPercentTick },
          grid: { color: COLORS.grid },
        },
      },
      plugins: {
        legend: { position: "bottom" },
        tooltip: {
          callbacks: {
            label: (ctx) => {
              const layer = layers[ctx.dataIndex];
              if (!counts) return `${ctx.dataset.label}: ${fmtPercent(ctx.raw)}`;
              return ctx.datasetIndex === 0 ? `original: ${layer.original}`
                : `kept: ${layer.kept} of ${layer.original} (${fmtPercent(layer.kept / layer.original, 0)})`;
            },
            afterBody: (items) => {
              const layer = layers[items[0].dataIndex];
              return layer.kind ? `${layer.kind}${layer.group !== null && layer.group !== undefined ? `, group ${layer.group}` : ""}` : "";
            },
          },
        },
      },
    },
  });
  chart.canvas.dataset.layers = String(labels.length);
  return chart;
}

/**
 * Each trial's screening score (the study's objective: search-split accuracy after adaptive
 * BatchNorm), and the best screening score so far as a step line. That line is not the job's
 * best model (chosen later on validation data after the final fine-tunes): the legend says
 * so, and names the best model's trial when the job has one.
 */
export function drawHistory(history, { best = null } = {}) {
  const points = (history && history.points) || [];
  const valued = points.filter((p) => p.value !== null && p.value !== undefined);
  setTable("history-table", ["trial", "kind", "state", "screening score", "best so far"],
    points.map((p) => [`#${p.number}`, p.kind, p.state, fmtPercent(p.value, 2), fmtPercent(p.best_so_far, 2)]));
  if (!valued.length) {
    removeChart("history-chart");
    message("history-message", points.length ? "No trial has a value yet." : "No trials yet.");
    return null;
  }
  message("history-message", "");
  const baselines = ["uniform", "global", "sensitivity"];
  const byKind = (kind) => valued.filter((p) => (kind === "search" ? !baselines.includes(p.kind) : p.kind === kind))
    .map((p) => ({ x: p.number, y: p.value, n: p.number, kind: p.kind }));
  const bestLine = points.filter((p) => p.best_so_far !== null && p.best_so_far !== undefined)
    .map((p) => ({ x: p.number, y: p.best_so_far }));
  const bestLabel = best
    ? `best screening score so far (not the best model #${best.number}, chosen on validation)`
    : "best screening score so far";
  return replaceChart("history-chart", {
    type: "scatter",
    data: {
      datasets: [
        { label: bestLabel, data: bestLine, parsing: false, showLine: true, stepped: "before", borderColor: COLORS.pareto, backgroundColor: COLORS.pareto, pointStyle: "line", pointRadius: 0, borderWidth: 2, order: 0 },
        { label: "search trial", data: byKind("search"), parsing: false, backgroundColor: COLORS.search, pointRadius: 3.5 },
        { label: "uniform baseline", data: byKind("uniform"), parsing: false, pointStyle: "triangle", backgroundColor: COLORS.uniform, pointRadius: 7 },
        { label: "global baseline", data: byKind("global"), parsing: false, pointStyle: "rectRot", backgroundColor: COLORS.global, pointRadius: 7 },
        { label: "sensitivity baseline", data: byKind("sensitivity"), parsing: false, pointStyle: "rect", backgroundColor: COLORS.sensitivity, pointRadius: 6 },
      ],
    },
    options: {
      scales: {
        x: { title: { display: true, text: "trial" }, ticks: { precision: 0 }, grid: { color: COLORS.grid } },
        y: {
          title: { display: true, text: "screening score (search-split accuracy)" },
          ticks: { callback: fmtPercentTick },
          grid: { color: COLORS.grid },
        },
      },
      plugins: {
        legend: { position: "bottom", labels: { filter: (item, chartData) => chartData.datasets[item.datasetIndex].data.length > 0 } },
        tooltip: { callbacks: { label: (ctx) => (ctx.raw.n === undefined ? `best screening score so far: ${fmtPercent(ctx.raw.y, 2)}` : `#${ctx.raw.n} ${ctx.raw.kind}: ${fmtPercent(ctx.raw.y, 2)} screening score`) } },
      },
    },
  });
}

/** How much each searched parameter mattered (Optuna's importance), largest first. */
export function drawImportance(importance) {
  const params = ((importance && importance.params) || []).slice().sort((a, b) => b.importance - a.importance);
  setTable("importance-table", ["parameter", "importance"], params.map((p) => [p.name, p.importance.toFixed(3)]));
  if (!params.length) {
    removeChart("importance-chart");
    message("importance-message", (importance && importance.message) || "Not enough finished trials yet.");
    return null;
  }
  message("importance-message", "");
  const chart = replaceChart("importance-chart", {
    type: "bar",
    data: {
      labels: params.map((p) => p.name),
      datasets: [{ label: "importance", data: params.map((p) => p.importance), backgroundColor: COLORS.kept, barPercentage: 0.7 }],
    },
    options: {
      indexAxis: "y",
      scales: {
        x: { beginAtZero: true, title: { display: true, text: "importance for a good screening score (PED-ANOVA, sums to 1)" }, grid: { color: COLORS.grid } },
        y: { grid: { display: false }, ticks: { autoSkip: false } },
      },
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (ctx) => `importance ${ctx.raw.toFixed(3)}` } } },
    },
  });
  return chart;
}

// -- jobs compared (/ui/compare) --

// One colour per job (up to the API's 10), told apart in light and dark schemes.
export const JOB_COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];

/**
 * Several jobs on one plot: each job's Pareto front (joined), its baselines (triangles) and
 * its best candidate (a star), one colour per job. `axis` "relative": MACs as a share of the
 * job's own unpruned model (jobs of different models side by side); "absolute": MACs.
 */
export function drawCompare(comparison, { axis = "relative" } = {}) {
  const jobs = (comparison && comparison.jobs) || [];
  const x = (job, macs) => {
    if (macs === null || macs === undefined) return null;
    if (axis === "absolute") return macs;
    const ref = job.reference && job.reference.macs;
    return ref ? macs / ref : null;
  };
  const fmtX = axis === "absolute" ? fmtCount : (v) => fmtPercent(v, 0);
  const datasets = [];
  const rows = [];
  jobs.forEach((job, i) => {
    const color = JOB_COLORS[i % JOB_COLORS.length];
    const at = (c, what) => {
      const px = x(job, c.macs);
      if (px === null || c.score === null || c.score === undefined) return null;
      rows.push([job.name, what, `#${c.number}`, c.fidelity, fmtPercent(c.score, 2), fmtX(px)]);
      return { x: px, y: c.score, n: c.number, job: job.name, what, fidelity: c.fidelity };
    };
    const front = job.front.map((p) => at(p, "front")).filter(Boolean).sort((a, b) => a.x - b.x);
    const baselines = Object.entries(job.baselines).filter(([, c]) => c).map(([kind, c]) => at(c, `${kind} baseline`)).filter(Boolean);
    const best = job.best ? [at(job.best.candidate, "best")].filter(Boolean) : [];
    const stage = job.front_fidelity ? ` (${job.front_fidelity})` : "";
    datasets.push(
      { type: "scatter", label: `${job.name}${stage}`, data: front, parsing: false, showLine: true, borderColor: color, backgroundColor: color, borderWidth: 1.5, pointRadius: 4, pointHoverRadius: 6, job: i },
      { type: "scatter", label: `${job.name} baselines`, data: baselines, parsing: false, pointStyle: "triangle", backgroundColor: color, borderColor: COLORS.card, borderWidth: 1, pointRadius: 8, pointHoverRadius: 10, job: i, legend: false },
      { type: "scatter", label: `${job.name} best`, data: best, parsing: false, pointStyle: "star", backgroundColor: color, borderColor: color, borderWidth: 2.5, pointRadius: 12, pointHoverRadius: 14, job: i, legend: false },
    );
  });
  setTable("compare-plot-table", ["job", "what", "trial", "stage", "score", axis === "absolute" ? "MACs" : "MACs (of unpruned)"], rows);
  const canvas = document.getElementById("compare-chart");
  const count = datasets.reduce((sum, set) => sum + set.data.length, 0);
  canvas.dataset.points = String(count);
  if (!count) {
    message("compare-message", "None of these jobs has a scored candidate with a MAC count yet.");
    removeChart("compare-chart");
    return null;
  }
  message("compare-message", "");
  return replaceChart("compare-chart", {
    type: "scatter",
    data: { datasets },
    options: {
      normalized: false,
      interaction: { mode: "nearest", intersect: true },
      scales: {
        x: {
          type: "linear",
          title: { display: true, text: axis === "absolute" ? "MACs (multiply-accumulates per sample)" : "MACs, share of the job's unpruned model" },
          // Percent ticks with as many decimals as their step needs (never "38 %, 38 %").
          ticks: { callback: axis === "absolute" ? (value) => fmtCount(value) : fmtPercentTick },
          grid: { color: COLORS.grid },
        },
        y: {
          title: { display: true, text: "score (finals: val. accuracy)" },
          ticks: { callback: fmtPercentTick },
          grid: { color: COLORS.grid },
        },
      },
      plugins: {
        legend: {
          position: "bottom",
          labels: { filter: (item, chartData) => chartData.datasets[item.datasetIndex].legend !== false },
        },
        tooltip: {
          callbacks: {
            label: (ctx) => `${ctx.raw.job} · ${ctx.raw.what} #${ctx.raw.n} (${ctx.raw.fidelity}): ${fmtPercent(ctx.raw.y)} at ${fmtX(ctx.raw.x)}`,
          },
        },
      },
    },
  });
}
