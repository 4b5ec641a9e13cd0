// Jobs compared (/ui/compare?jobs=a,b,...): their fronts, baselines and best models on one
// plot, and the best candidates side by side with their kept channels per layer. The page's
// state (the jobs, the x axis) lives in the query string, so a comparison is a link.
import { $, api, el, fmtCount, fmtMs, fmtPercent, readQuery, setupSession, statusBadge, writeQuery } from "./common.js";
import { drawCompare, JOB_COLORS } from "./charts.js";

const query = readQuery();
const state = {
  jobs: (query.jobs || "").split(",").map((id) => id.trim()).filter(Boolean),
  axis: query.axis === "absolute" ? "absolute" : "relative",
  data: null,
};

function saveQuery() {
  // Commas kept readable: writeQuery would encode them.
  writeQuery({ axis: state.axis }, { axis: "relative" });
  const rest = window.location.search.replace(/^\?/, "");
  const url = `${window.location.pathname}?jobs=${state.jobs.map(encodeURIComponent).join(",")}${rest ? `&${rest}` : ""}`;
  window.history.replaceState(null, "", url);
}

function share(value, total) {
  return value !== null && value !== undefined && total ? ` (${fmtPercent(value / total, 0)})` : "";
}

function renderTable(jobs) {
  $("#compare-head").replaceChildren(
    el("th", { scope: "col" }, ""),
    ...jobs.map((job, i) => el("th", { scope: "col", "data-testid": "compare-job", "data-job-id": job.id },
      el("span", { class: "swatch", style: `background:${JOB_COLORS[i % JOB_COLORS.length]}`, "aria-hidden": "true" }),
      el("a", { href: `/ui/jobs/${encodeURIComponent(job.id)}` }, job.name))),
  );
  const best = (job) => (job.best ? job.best.candidate : null);
  const row = (label, cell, attrs = {}) => el("tr", attrs, el("th", { scope: "row" }, label),
    ...jobs.map((job) => el("td", {}, cell(job))));
  const layerNames = [];
  for (const job of jobs) {
    for (const layer of (job.best ? job.best.layers : [])) if (!layerNames.includes(layer.name)) layerNames.push(layer.name);
  }
  const kept = (job, name) => {
    const layer = job.best && job.best.layers.find((l) => l.name === name);
    if (!layer) return "–";
    if (layer.kept === null || layer.original === null) return `${fmtPercent(1 - layer.ratio, 0)} kept`;
    return `${layer.kept} / ${layer.original}`;
  };
  $("#compare-body").replaceChildren(
    row("model", (job) => job.model),
    row("status", (job) => statusBadge(job.status)),
    row("best trial", (job) => (best(job) ? `#${best(job).number} ${best(job).kind}${job.best.final ? "" : " (so far)"}` : "none yet")),
    row("score", (job) => (best(job) ? `${fmtPercent(best(job).score, 2)} (${best(job).fidelity === "final" ? "val" : best(job).fidelity})` : "–")),
    row("test accuracy", (job) => (best(job) ? fmtPercent(best(job).test_accuracy, 2) : "–")),
    row("unpruned (val / test)", (job) => (job.reference ? `${fmtPercent(job.reference.val_accuracy, 2)} / ${fmtPercent(job.reference.test_accuracy, 2)}` : "–")),
    row("params", (job) => (best(job) ? `${fmtCount(best(job).params)}${share(best(job).params, job.reference && job.reference.params)}` : "–")),
    row("MACs", (job) => (best(job) ? `${fmtCount(best(job).macs)}${share(best(job).macs, job.reference && job.reference.macs)}` : "–")),
    row("latency", (job) => (best(job) ? fmtMs(best(job).latency_ms) : "–")),
    ...layerNames.map((name) => row(name, (job) => kept(job, name), { "data-testid": "compare-layer", "data-layer": name })),
  );
}

function render() {
  const jobs = state.data.jobs;
  $("#compare-names").textContent = `${jobs.length} jobs`;
  drawCompare(state.data, { axis: state.axis });
  renderTable(jobs);
}

async function load() {
  saveQuery();
  const error = $("#compare-error");
  if (state.jobs.length < 2) {
    error.hidden = false;
    error.textContent = "Pick two or more jobs to compare on the jobs list (or give ?jobs=ID,ID in the address).";
    return;
  }
  try {
    state.data = await api(`/v1/compare?jobs=${state.jobs.map(encodeURIComponent).join(",")}`);
  } catch (failure) {
    if (failure.status === 401) return;
    error.hidden = false;
    error.textContent = failure.message;
    return;
  }
  error.hidden = true;
  render();
}

$(`#axis-${state.axis}`).checked = true;
for (const input of document.querySelectorAll("input[name=compare-axis]")) {
  input.addEventListener("change", (event) => {
    state.axis = event.target.value;
    saveQuery();
    if (state.data) render();
  });
}

setupSession({ start: load });
