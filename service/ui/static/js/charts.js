// The job page's charts (Chart.js 4, loaded as window.Chart by a <script> before this module).
// Animation is off everywhere and point data is pre-parsed ({x, y} objects), so a job with
// ten thousand candidates still draws at once.
import { fmtCount, fmtMs, fmtPercent } from "./common.js";

const Chart = window.Chart;

export const COLORS = {
  search: "rgba(37, 99, 235, 0.55)",
  searchLine: "#2563eb",
  pareto: "#ea580c",
  infeasible: "rgba(148, 156, 168, 0.45)",
  uniform: "#16a34a",
  global: "#9333ea",
  sensitivity: "#0891b2",
  reference: "#111827",
  budget: "#dc2626",
  original: "#e2e8f0",
  kept: "#2563eb",
};

Chart.defaults.animation = false;
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
Chart.defaults.font.size = 12;
Chart.defaults.color = "#5f6b7a";
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.plugins.legend.labels.usePointStyle = true;
Chart.defaults.plugins.legend.labels.boxHeight = 8;

/**
 * Draws the budget as a dashed vertical line at options.budget on the x scale, and the
 * unpruned model's score as a dotted horizontal line at options.reference on the y scale.
 */
const guideLines = {
  id: "guideLines",
  afterDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea, scales } = chart;
    const font = `600 11px ${Chart.defaults.font.family}`;
    ctx.save();
    ctx.lineWidth = 1.5;
    ctx.font = font;
    if (options.reference !== null && options.reference !== undefined) {
      const y = scales.y.getPixelForValue(options.reference);
      if (y >= chartArea.top - 1 && y <= chartArea.bottom + 1) {
        ctx.strokeStyle = COLORS.reference;
        ctx.fillStyle = COLORS.reference;
        ctx.setLineDash([2, 3]);
        ctx.beginPath();
        ctx.moveTo(chartArea.left, y);
        ctx.lineTo(chartArea.right, y);
        ctx.stroke();
        ctx.textAlign = "left";
        ctx.fillText(options.referenceLabel || "unpruned", chartArea.left + 6, y - 5);
      }
    }
    if (options.budget !== null && options.budget !== undefined) {
      const x = scales.x.getPixelForValue(options.budget);
      if (x >= chartArea.left - 1 && x <= chartArea.right + 1) {
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
  const existing = Chart.getChart(canvasId);
  if (existing) existing.destroy();
  return new Chart(document.getElementById(canvasId), config);
}

const AXES = {
  macs: { key: "macs", budget: "max_macs", title: "MACs (multiply-accumulates per sample)", fmt: fmtCount },
  latency_ms: { key: "latency_ms", budget: "max_latency_ms", title: "latency (ms)", fmt: (v) => (v === null || v === undefined ? fmtMs(v) : `${Number(v.toPrecision(3))} ms`) },
};

/**
 * The Pareto plot: every candidate's score against its MACs (or latency), the front joined,
 * baselines and the unpruned model marked, infeasible ones grey, the budget as a line.
 * onSelect(number) is called when a point is clicked.
 */
export function drawPareto(data, { axis = "macs", selected = null, onSelect }) {
  const spec = AXES[axis];
  const points = (data && data.points) || [];
  const usable = points.filter((p) => p[spec.key] !== null && p[spec.key] !== undefined
    && p.score !== null && p.score !== undefined);
  const xy = (p) => ({ x: p[spec.key], y: p.score, n: p.number, kind: p.kind, feasible: p.feasible, fidelity: p.fidelity });
  // Finals are scored on validation data, earlier stages on the search split: they get
  // their own datasets (hollow markers for the earlier ones) and the axis says which is which.
  const groups = { search: [], earlier: [], pareto: [], infeasible: [], uniform: [], global: [], sensitivity: [] };
  const finals = usable.some((p) => p.fidelity === "final");
  for (const p of usable) {
    if (p.kind in groups && p.kind !== "search") groups[p.kind].push(xy(p));
    else if (!p.feasible) groups.infeasible.push(xy(p));
    else if (!p.pareto) groups[p.fidelity === "final" || !finals ? "search" : "earlier"].push(xy(p));
    if (p.pareto && p.feasible) groups.pareto.push(xy(p));
  }
  groups.pareto.sort((a, b) => a.x - b.x);
  const reference = data && data.reference;
  const refScore = reference && reference.val_accuracy !== undefined ? reference.val_accuracy : null;
  const refX = reference && reference[spec.key] !== undefined ? reference[spec.key] : null;
  const budget = data && data.budget ? data.budget[spec.budget] : null;
  const selectedPoint = usable.filter((p) => p.number === selected).map(xy);

  if (!usable.length) {
    message("pareto-message", points.length
      ? `No candidate has a ${axis === "macs" ? "MAC count" : "latency"} and a score yet.`
      : "No candidates yet: the plot fills in as trials finish.");
  } else {
    message("pareto-message", "");
  }

  const scatter = (label, rows, style) => ({
    type: "scatter", label, data: rows, parsing: false, ...style,
  });
  const datasets = [
    scatter(finals ? "search (final)" : "search", groups.search, { backgroundColor: COLORS.search, borderColor: COLORS.searchLine, borderWidth: 0, pointRadius: 3.5, pointHoverRadius: 6, order: 4 }),
    scatter("search (screen/rung, search split)", groups.earlier, { backgroundColor: "rgba(0,0,0,0)", borderColor: COLORS.searchLine, borderWidth: 1, pointRadius: 3, pointHoverRadius: 6, order: 6 }),
    scatter("Pareto front", groups.pareto, {
      showLine: true, borderColor: COLORS.pareto, backgroundColor: COLORS.pareto, borderWidth: 1.5,
      pointRadius: 5, pointHoverRadius: 7, order: 3,
    }),
    scatter("infeasible", groups.infeasible, { backgroundColor: COLORS.infeasible, borderWidth: 0, pointRadius: 3, pointHoverRadius: 5, order: 5 }),
    scatter("uniform baseline", groups.uniform, { pointStyle: "triangle", backgroundColor: COLORS.uniform, borderColor: "#fff", borderWidth: 1, pointRadius: 9, pointHoverRadius: 11, order: 1 }),
    scatter("global baseline", groups.global, { pointStyle: "rectRot", backgroundColor: COLORS.global, borderColor: "#fff", borderWidth: 1, pointRadius: 9, pointHoverRadius: 11, order: 1 }),
    scatter("sensitivity baseline", groups.sensitivity, { pointStyle: "rect", backgroundColor: COLORS.sensitivity, borderColor: "#fff", borderWidth: 1, pointRadius: 8, pointHoverRadius: 10, order: 1 }),
    { type: "line", label: "unpruned model", data: [], borderColor: COLORS.reference, borderDash: [2, 3], borderWidth: 1.5, pointStyle: "line", pointRadius: 0, hidden: refScore === null },
    { type: "line", label: "budget", data: [], borderColor: COLORS.budget, borderDash: [6, 4], borderWidth: 1.5, pointStyle: "line", pointRadius: 0, hidden: budget === null || budget === undefined },
    scatter("selected", selectedPoint, { pointStyle: "circle", backgroundColor: "rgba(0,0,0,0)", borderColor: COLORS.reference, borderWidth: 2.5, pointRadius: 11, pointHoverRadius: 11, order: 0 }),
  ];
  // The x range covers the candidates and the budget (not the unpruned model, which would
  // squeeze them into a corner); its score is the dotted line.
  const xs = usable.map((p) => p[spec.key]);
  if (budget !== null && budget !== undefined) xs.push(budget);
  const ys = usable.map((p) => p.score);
  if (refScore !== null) ys.push(refScore);
  const [xMin, xMax] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  const pad = (xMax - xMin) * 0.08 || xMax * 0.05 || 1;
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
          grid: { color: "#eef1f4" },
        },
        y: {
          title: {
            display: true,
            text: finals
              ? "score: validation accuracy (finals); search-split accuracy (hollow: screen, rungs)"
              : "score: search-split accuracy (screening and rungs; finals not yet run)",
          },
          suggestedMax: ys.length ? Math.min(1, Math.max(...ys) + 0.01) : undefined,
          ticks: { callback: (value) => fmtPercent(value, 0) },
          grid: { color: "#eef1f4" },
        },
      },
      plugins: {
        guideLines: {
          budget, budgetLabel: `budget ${spec.fmt(budget)}`,
          reference: refScore, referenceLabel: `unpruned ${fmtPercent(refScore)}${refX !== null ? ` at ${spec.fmt(refX)}` : ""}`,
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
              const who = `#${raw.n} ${raw.kind}${raw.fidelity ? ` (${raw.fidelity})` : ""}`;
              return `${who}: ${fmtPercent(raw.y)} at ${spec.fmt(raw.x)}${raw.feasible === false ? " (over budget)" : ""}`;
            },
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
  if (!layers.length) {
    const existing = Chart.getChart("layers-chart");
    if (existing) existing.destroy();
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
          ticks: counts ? { precision: 0 } : { callback: (value) => fmtPercent(value, 0) },
          grid: { color: "#eef1f4" },
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

/** Each trial's objective value, and the best so far as a step line. */
export function drawHistory(history) {
  const points = (history && history.points) || [];
  const valued = points.filter((p) => p.value !== null && p.value !== undefined);
  if (!valued.length) {
    const existing = Chart.getChart("history-chart");
    if (existing) existing.destroy();
    message("history-message", points.length ? "No trial has a value yet." : "No trials yet.");
    return null;
  }
  message("history-message", "");
  const byKind = (kind) => valued.filter((p) => (kind === "search" ? !["uniform", "global"].includes(p.kind) : p.kind === kind))
    .map((p) => ({ x: p.number, y: p.value, n: p.number, kind: p.kind }));
  const best = points.filter((p) => p.best_so_far !== null && p.best_so_far !== undefined)
    .map((p) => ({ x: p.number, y: p.best_so_far }));
  return replaceChart("history-chart", {
    type: "scatter",
    data: {
      datasets: [
        { label: "best so far", data: best, parsing: false, showLine: true, stepped: "before", borderColor: COLORS.pareto, backgroundColor: COLORS.pareto, pointStyle: "line", pointRadius: 0, borderWidth: 2, order: 0 },
        { label: "search trial", data: byKind("search"), parsing: false, backgroundColor: COLORS.search, pointRadius: 3.5 },
        { label: "uniform baseline", data: byKind("uniform"), parsing: false, pointStyle: "triangle", backgroundColor: COLORS.uniform, pointRadius: 7 },
        { label: "global baseline", data: byKind("global"), parsing: false, pointStyle: "rectRot", backgroundColor: COLORS.global, pointRadius: 7 },
      ],
    },
    options: {
      scales: {
        x: { title: { display: true, text: "trial" }, ticks: { precision: 0 }, grid: { color: "#eef1f4" } },
        y: { title: { display: true, text: "objective value" }, grid: { color: "#eef1f4" } },
      },
      plugins: {
        legend: { position: "bottom", labels: { filter: (item, chartData) => chartData.datasets[item.datasetIndex].data.length > 0 } },
        tooltip: { callbacks: { label: (ctx) => (ctx.raw.n === undefined ? `best so far: ${ctx.raw.y.toFixed(4)}` : `#${ctx.raw.n} ${ctx.raw.kind}: ${ctx.raw.y.toFixed(4)}`) } },
      },
    },
  });
}

/** How much each searched parameter mattered (Optuna's importance), largest first. */
export function drawImportance(importance) {
  const params = ((importance && importance.params) || []).slice().sort((a, b) => b.importance - a.importance);
  if (!params.length) {
    const existing = Chart.getChart("importance-chart");
    if (existing) existing.destroy();
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
        x: { beginAtZero: true, title: { display: true, text: "importance (share of the objective's variance)" }, grid: { color: "#eef1f4" } },
        y: { grid: { display: false }, ticks: { autoSkip: false } },
      },
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (ctx) => `importance ${ctx.raw.toFixed(3)}` } } },
    },
  });
  return chart;
}
