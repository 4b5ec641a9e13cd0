// The job page's per-layer views: the sensitivity curves the search measured (accuracy
// against keep ratio, each group pruned alone) and a heatmap of the keep ratios the top
// candidates give each layer. Both have a keyboard-reachable data table; the heatmap is an
// HTML table itself (values as text, colour as a second cue), so it scrolls inside its box
// on a phone rather than the page.
import { $, api, el, fill, fmtPercent, fmtPercentTick } from "./common.js";
import { COLORS } from "./charts.js";

const Chart = window.Chart;

export const TOP_GROUPS = 8; // curves drawn until "show all": the most sensitive first
export const TOP_CANDIDATES = 10; // heatmap rows beyond the baselines
const BASELINES = ["uniform", "global", "sensitivity"];
// Okabe-Ito and Tableau hues: told apart by most colour-vision deficiencies.
const LINE_COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf"];
// Viridis stops (perceptually even, readable in grey): keep 0 dark, keep 1 bright.
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];

const state = { sensitivity: null, showAll: false, highlighted: null, heatmapKey: null };

// -- colour helpers --

function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function luminance([r, g, b]) {
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** The heatmap's colour of a keep ratio (0..1), interpolated between the viridis stops. */
export function keepColor(keep) {
  const t = Math.min(1, Math.max(0, keep)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t));
  const a = rgb(VIRIDIS[i]);
  const b = rgb(VIRIDIS[i + 1]);
  return a.map((c, k) => Math.round(c + (b[k] - c) * (t - i)));
}

/** Black or white, whichever contrasts more with the cell (>= 4.5:1 for every colour). */
function textOn(color) {
  const l = luminance(color);
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? "#000000" : "#ffffff";
}

function css([r, g, b]) {
  return `rgb(${r}, ${g}, ${b})`;
}

function faded(hex) {
  const [r, g, b] = rgb(hex);
  return `rgba(${r}, ${g}, ${b}, 0.15)`;
}

// -- sensitivity curves --

function message(text) {
  const node = $("#sensitivity-message");
  node.hidden = !text;
  node.textContent = text || "";
}

function shownGroups(data) {
  return state.showAll ? data.groups : data.groups.slice(0, TOP_GROUPS);
}

/** Emphasises one group's curve (by name; null: none) in the chart and the table. */
function highlight(name) {
  state.highlighted = name;
  const chart = Chart.getChart("sensitivity-chart");
  if (chart) {
    for (const dataset of chart.data.datasets) {
      if (!dataset.group) continue;
      const on = name === null || dataset.group === name;
      dataset.borderColor = on ? dataset.color : faded(dataset.color);
      dataset.backgroundColor = dataset.borderColor;
      dataset.borderWidth = name !== null && on ? 3.5 : 2;
    }
    chart.canvas.dataset.highlighted = name || "";
    chart.update("none");
  }
  for (const row of document.querySelectorAll("#sensitivity-table tbody tr")) {
    row.classList.toggle("selected", row.dataset.group === name);
  }
}

function renderSensitivityTable(data) {
  const wrap = $("#sensitivity-table .table-wrap");
  if (!data.groups.length) {
    fill(wrap, el("p", { class: "muted small" }, data.message || "No data yet."));
    return;
  }
  const keeps = data.keep_ratios;
  fill(wrap, el("table", { class: "data" },
    el("caption", { class: "muted small" }, "Accuracy with one group pruned to each keep ratio; focus a row to highlight its curve."),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, "group"),
      keeps.map((k) => el("th", { scope: "col", class: "num" }, `keep ${fmtPercent(k, 0)}`)),
      el("th", { scope: "col", class: "num" }, "mean drop"))),
    el("tbody", {}, data.groups.map((g) => el("tr", {
      tabindex: "0",
      dataset: { group: g.name },
      onfocus: () => highlight(g.name),
      onblur: () => highlight(null),
      onmouseenter: () => highlight(g.name),
      onmouseleave: () => highlight(null),
    },
    el("th", { scope: "row" }, g.name),
    g.accuracy.map((a) => el("td", { class: "num" }, fmtPercent(a, 1))),
    el("td", { class: "num" }, fmtPercent(g.mean_drop, 1)))))));
}

function drawSensitivity(data) {
  const existing = Chart.getChart("sensitivity-chart");
  if (existing) existing.destroy();
  const toggle = $("#sensitivity-all");
  const more = data.groups.length > TOP_GROUPS;
  toggle.hidden = !more;
  toggle.textContent = state.showAll ? `Show the ${TOP_GROUPS} most sensitive` : `Show all ${data.groups.length} groups`;
  toggle.setAttribute("aria-pressed", String(state.showAll));
  $("#sensitivity-note").textContent = data.groups.length
    ? `${more && !state.showAll ? `the ${TOP_GROUPS} most sensitive of ${data.groups.length} groups` : `${data.groups.length} groups`}, each pruned alone`
    : "";
  renderSensitivityTable(data);
  if (!data.groups.length) {
    message(data.message || "Not measured yet.");
    return null;
  }
  message("");
  const groups = shownGroups(data);
  const keeps = data.keep_ratios;
  const datasets = groups.map((g, i) => {
    const color = LINE_COLORS[i % LINE_COLORS.length];
    return {
      label: g.name,
      group: g.name,
      color,
      data: keeps.map((k, j) => ({ x: k, y: g.accuracy[j] })),
      parsing: false,
      showLine: true,
      borderColor: color,
      backgroundColor: color,
      borderWidth: 2,
      pointRadius: 3,
      pointHoverRadius: 5,
    };
  });
  datasets.push({
    label: `unpruned model ${fmtPercent(data.reference_accuracy, 1)}`,
    data: [{ x: Math.min(...keeps), y: data.reference_accuracy }, { x: 1, y: data.reference_accuracy }],
    parsing: false,
    showLine: true,
    borderColor: COLORS.reference,
    backgroundColor: COLORS.reference,
    borderDash: [6, 4],
    borderWidth: 1.5,
    pointRadius: 0,
    pointStyle: "line",
  });
  const chart = new Chart($("#sensitivity-chart"), {
    type: "scatter",
    data: { datasets },
    options: {
      interaction: { mode: "nearest", intersect: false },
      onHover: (_event, elements) => {
        const dataset = elements.length ? chart.data.datasets[elements[0].datasetIndex] : null;
        const name = dataset && dataset.group ? dataset.group : null;
        if (name !== state.highlighted) highlight(name);
      },
      scales: {
        x: {
          reverse: true, // left to right: more pruned
          min: Math.min(...keeps),
          max: 1,
          title: { display: true, text: "keep ratio (fraction of the group's channels kept)" },
          ticks: { callback: (v) => `${Math.round(v * 100)} %` },
          grid: { color: COLORS.grid },
        },
        y: {
          title: { display: true, text: "search-split accuracy (group pruned alone)" },
          ticks: { callback: fmtPercentTick },
          grid: { color: COLORS.grid },
        },
      },
      plugins: {
        legend: {
          position: "bottom",
          display: groups.length <= 12,
          onHover: (_event, item) => highlight(chart.data.datasets[item.datasetIndex].group || null),
          onLeave: () => highlight(null),
        },
        tooltip: {
          callbacks: {
            label: (ctx) => (ctx.dataset.group
              ? `${ctx.dataset.group}: ${fmtPercent(ctx.raw.y, 1)} at keep ${fmtPercent(ctx.raw.x, 0)}`
              : ctx.dataset.label),
          },
        },
      },
    },
  });
  chart.canvas.addEventListener("mouseleave", () => highlight(null));
  chart.canvas.dataset.groups = String(groups.length);
  if (state.highlighted) highlight(state.highlighted);
  return chart;
}

async function refreshSensitivity(base) {
  // Measured once per job: asked until it has groups, then drawn from memory.
  if (!state.sensitivity || !state.sensitivity.groups.length) {
    state.sensitivity = await api(`${base}/sensitivity`);
  }
  drawSensitivity(state.sensitivity);
}

// -- keep ratios of the top candidates across layers --

function layerNames(rows) {
  const names = [];
  const seen = new Set();
  for (const row of rows) {
    for (const name of Object.keys(row.ratios || {})) {
      if (!seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
    }
  }
  return names;
}

function rowLabel(row) {
  return row.kind === "search" ? `#${row.number}` : `#${row.number} ${row.kind}`;
}

function keepOf(row, name) {
  const ratio = (row.ratios || {})[name];
  return 1 - (ratio ?? 0); // a layer the policy leaves alone keeps everything
}

function candidateHref(number) {
  const params = new URLSearchParams(window.location.search);
  params.set("candidate", String(number));
  return `${window.location.pathname}?${params}`;
}

function legend() {
  const stops = [0, 0.25, 0.5, 0.75, 1];
  const gradient = stops.map((k) => `${css(keepColor(k))} ${k * 100}%`).join(", ");
  return el("div", { class: "heat-legend", "data-testid": "heatmap-legend" },
    el("span", { class: "small muted" }, "keep ratio"),
    el("span", { class: "small" }, "0 %"),
    el("span", { class: "heat-scale", role: "img", "aria-label": "colour scale: dark purple keeps nothing, yellow keeps every channel", style: `background: linear-gradient(to right, ${gradient})` }),
    el("span", { class: "small" }, "100 %"));
}

function renderHeatmap(rows) {
  const box = $("#heatmap");
  const names = layerNames(rows);
  if (!rows.length || !names.length) {
    fill(box, el("p", { class: "muted" }, rows.length ? "These candidates prune no layer." : "No candidates yet."));
    fill($("#heatmap-table .table-wrap"), el("p", { class: "muted small" }, "No data yet."));
    return;
  }
  const head = el("thead", {}, el("tr", {},
    el("th", { scope: "col" }, "candidate"),
    names.map((n) => el("th", { scope: "col", class: "layer" }, el("span", {}, n)))));
  const body = el("tbody", {}, rows.map((row) => el("tr", { dataset: { number: String(row.number), kind: row.kind } },
    el("th", { scope: "row" }, el("a", { href: candidateHref(row.number) }, rowLabel(row))),
    names.map((name) => {
      const keep = keepOf(row, name);
      const color = keepColor(keep);
      return el("td", {
        class: "num heat",
        style: `background: ${css(color)}; color: ${textOn(color)}`,
        title: `${rowLabel(row)}, ${name}: keeps ${fmtPercent(keep, 1)}`,
      }, Math.round(keep * 100));
    }))));
  fill(box, legend(),
    el("div", { class: "table-wrap heat-wrap", tabindex: "0", role: "region", "aria-label": "keep ratio per layer of the top candidates (scrolls sideways)" },
      el("table", { class: "heatmap", "data-testid": "heatmap-grid" },
        el("caption", { class: "muted small" }, "Percent of each layer's channels kept, best-ranked first, then the baselines."),
        head, body)));
  // The same numbers as a plain table (rows: layers), for screen readers and copying.
  fill($("#heatmap-table .table-wrap"), el("table", { class: "data" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "layer"), rows.map((r) => el("th", { scope: "col", class: "num" }, rowLabel(r))))),
    el("tbody", {}, names.map((name) => el("tr", {},
      el("th", { scope: "row" }, name),
      rows.map((r) => el("td", { class: "num" }, fmtPercent(keepOf(r, name), 1))))))));
}

async function refreshHeatmap(base, key) {
  if (key === state.heatmapKey) return;
  const [top, ...baselines] = await Promise.all([
    api(`${base}/leaderboard?limit=${TOP_CANDIDATES}`),
    ...BASELINES.map((kind) => api(`${base}/leaderboard?kind=${kind}&limit=1`)),
  ]);
  const rows = [...top.items];
  const seen = new Set(rows.map((r) => r.number));
  for (const page of baselines) {
    for (const row of page.items) if (!seen.has(row.number)) rows.push(row);
  }
  state.heatmapKey = key;
  renderHeatmap(rows);
}

// -- wiring --

let wired = false;

function wire() {
  if (wired) return;
  wired = true;
  $("#sensitivity-all").addEventListener("click", () => {
    state.showAll = !state.showAll;
    if (state.sensitivity) drawSensitivity(state.sensitivity);
  });
  // Colours follow the scheme: redraw with the new ones (charts.js has read them by then).
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (state.sensitivity) drawSensitivity(state.sensitivity);
  });
}

/** Draws both views for ``job`` (called by the job page whenever the job moved). */
export async function refreshLayerViews(base, job) {
  wire();
  const p = job.progress || {};
  const key = [job.status, p.trials_done, p.trials_failed, p.best_score].join("|");
  await Promise.all([refreshSensitivity(base), refreshHeatmap(base, key)]);
}
