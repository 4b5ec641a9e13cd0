// One job (/ui/jobs/{id}): live header, Pareto plot, a candidate's layers, the leaderboard
// (paged and sorted by the server), the best model's downloads and the search's own plots.
import {
  $, api, el, fill, FINAL_STATUSES, fmtCount, fmtDuration, fmtMs, fmtPercent, fmtSignedPoints, fmtTime,
  progressBar, setupSession, statusBadge,
} from "./common.js";
import { drawHistory, drawImportance, drawLayers, drawPareto, markSelected } from "./charts.js";

const POLL_MS = 2000;
const IMPORTANCE_EVERY_MS = 15000; // importance is costly to compute: not on every poll
const DEFAULT_ORDER = { score: "desc" };

const jobId = decodeURIComponent(window.location.pathname.replace(/\/+$/, "").split("/").pop());
const base = `/v1/jobs/${encodeURIComponent(jobId)}`;

const state = {
  running: false,
  timer: null,
  job: null,
  signature: null,
  points: null,
  axis: null, // chosen by the user, else from the job's objective
  selected: null,
  selectedByUser: false,
  importanceAt: 0,
  lb: { sort: "rank", order: null, offset: 0, limit: 25, feasible: false, pareto: false, kind: "", fidelity: "" },
};

// -- header --

function stat(label, value, testid) {
  return el("div", { class: "stat" }, el("dt", {}, label), el("dd", { "data-testid": testid }, value));
}

function budgetText(spec, reference) {
  const budget = (spec && spec.budget) || {};
  const parts = [];
  const limit = (value, key, fmt, name) => {
    if (value === null || value === undefined) return;
    if (value <= 1 && key) {
      const total = reference && reference[key];
      parts.push(`${name} ≤ ${fmtPercent(value, 0)}${total ? ` (${fmt(Math.floor(value * total))})` : ""}`);
    } else {
      parts.push(`${name} ≤ ${fmt(value)}`);
    }
  };
  limit(budget.max_macs, "macs", fmtCount, "MACs");
  limit(budget.max_params, "params", fmtCount, "params");
  if (budget.max_latency_ms !== null && budget.max_latency_ms !== undefined) parts.push(`latency ≤ ${fmtMs(budget.max_latency_ms)}`);
  return parts.join(", ") || "none";
}

function renderHeader(job) {
  document.title = `${job.name} · prunesearch`;
  $("#crumb-name").textContent = job.name;
  $("#job-name").textContent = job.name;
  fill($("#job-status"), statusBadge(job.status),
    job.cancel_requested && !FINAL_STATUSES.has(job.status) ? el("span", { class: "muted small" }, " cancelling…") : "");
  $("#job-id").textContent = job.id;
  $("#dashboard-link").href = `/ui/jobs/${encodeURIComponent(job.id)}/dashboard/`;
  const { progress, timings, spec } = job;
  const planned = progress.trials_planned;
  fill($("#job-progress"),
    progressBar(progress.trials_done, planned, job.status, "trials done of planned"),
    el("span", { class: "count", "data-testid": "trials" }, `${progress.trials_done.toLocaleString("en-US")} / ${planned.toLocaleString("en-US")} trials`),
  );
  const model = spec && spec.model ? (spec.model.zoo || spec.model.factory) : null;
  const data = spec && spec.data ? spec.data.source : null;
  const search = (spec && spec.search) || {};
  fill($("#job-stats"),
    stat("Best so far", fmtPercent(progress.best_score), "best-so-far"),
    stat("Trials", el("span", {}, `${progress.trials_done.toLocaleString("en-US")} of ${planned.toLocaleString("en-US")}`,
      progress.trials_failed ? el("span", { class: "small" }, ` · ${progress.trials_failed} failed`) : ""), "trials-stat"),
    stat(FINAL_STATUSES.has(job.status) ? "Run time" : "Running for", fmtDuration(timings.run_s), "run-time"),
    stat("ETA", job.status === "running" ? fmtDuration(progress.eta_s) : "–", "eta"),
    stat("Budget", budgetText(spec, job.reference), "budget"),
    stat("Model · data", `${model || "?"} · ${data || "?"}`, "model"),
    stat("Search", `${search.sampler || "?"} · ${(search.objectives || []).join(" + ") || "accuracy"}`, "search"),
    stat("Created", fmtTime(timings.created_at), "created"),
    stat("Started", fmtTime(timings.started_at), "started"),
    stat("Finished", fmtTime(timings.finished_at), "finished"),
  );
  const error = $("#job-error");
  error.hidden = !job.error;
  error.textContent = job.error || "";
  $("#job-live").textContent = FINAL_STATUSES.has(job.status)
    ? "" : `Live: updated every ${POLL_MS / 1000} s until the job is over.`;
}

// -- best model and downloads --

const FORMAT_LABELS = { bundle: "bundle (.zip)", onnx: "ONNX", safetensors: "safetensors" };

async function refreshBest() {
  let best = null;
  try {
    best = await api(`${base}/best`);
  } catch (failure) {
    if (failure.status !== 404) throw failure;
  }
  const downloads = $("#downloads");
  const formats = best && best.final ? best.formats : [];
  fill(downloads, ...formats.map((format) => el("a", {
    class: `button-link${format === "bundle" ? " primary" : ""}`,
    href: `${base}/best/model?format=${encodeURIComponent(format)}`,
    download: "",
    "data-format": format,
    "data-testid": "download",
  }, `⤓ ${FORMAT_LABELS[format] || format}`)));
  const card = $("#best-card");
  card.hidden = !best;
  if (!best) return null;
  const c = best.candidate;
  if (best.final) {
    // Once the job is over, the header's figure is the best model's final score.
    const headline = $("[data-testid=best-so-far]");
    if (headline) {
      headline.textContent = fmtPercent(c.score);
      headline.previousElementSibling.textContent = "Best (final)";
    }
  }
  const ref = best.reference || {};
  $("#best-kind").textContent = `trial #${c.number} · ${c.kind}${best.final ? "" : " · best so far (screening score)"}`;
  fill($("#best-stats"),
    stat(c.accuracy !== null ? "Validation accuracy" : `Score (${c.fidelity}, search split)`, fmtPercent(c.accuracy ?? c.score), "best-accuracy"),
    stat("Test accuracy", fmtPercent(c.test_accuracy), "best-test"),
    stat("Params", el("span", {}, fmtCount(c.params), el("span", { class: "small" }, best.params_ratio !== null ? ` · ${fmtPercent(best.params_ratio, 0)}` : "")), "best-params"),
    stat("MACs", el("span", {}, fmtCount(c.macs), el("span", { class: "small" }, best.macs_ratio !== null ? ` · ${fmtPercent(best.macs_ratio, 0)}` : "")), "best-macs"),
    c.latency_ms !== null ? stat("Latency", fmtMs(c.latency_ms), "best-latency") : null,
    stat("vs. uniform", fmtSignedPoints(best.gain_over_uniform), "gain-uniform"),
    stat("vs. global", fmtSignedPoints(best.gain_over_global), "gain-global"),
    ref.val_accuracy !== undefined && ref.val_accuracy !== null
      ? stat("Unpruned val · test", `${fmtPercent(ref.val_accuracy)} · ${fmtPercent(ref.test_accuracy)}`, "reference") : null,
  );
  return best;
}

// -- Pareto plot and the selected candidate --

function currentAxis() {
  if (state.axis) return state.axis;
  const objective = state.points && state.points.objective;
  return objective === "latency" && hasLatency() ? "latency_ms" : "macs";
}

function hasLatency() {
  return Boolean(state.points && state.points.points.some((p) => p.latency_ms !== null && p.latency_ms !== undefined));
}

function renderPareto() {
  const axis = currentAxis();
  const latency = hasLatency();
  $("#axis-latency").disabled = !latency;
  $("#axis-latency").closest("label").title = latency ? "" : "no candidate of this job has a measured latency";
  $(`#axis-${axis === "macs" ? "macs" : "latency"}`).checked = true;
  drawPareto(state.points, { axis, selected: state.selected, onSelect: (n) => select(n, true) });
}

async function refreshPoints() {
  state.points = await api(`${base}/points`);
  renderPareto();
}

async function select(number, byUser = false) {
  if (number === null || number === undefined) return;
  state.selected = number;
  if (byUser) state.selectedByUser = true;
  for (const row of document.querySelectorAll("#lb-body tr")) {
    row.classList.toggle("selected", Number(row.dataset.number) === number);
    row.setAttribute("aria-selected", String(Number(row.dataset.number) === number));
  }
  markSelected(state.points, currentAxis(), number);
  let candidate;
  try {
    candidate = await api(`${base}/candidates/${number}`);
  } catch (failure) {
    $("#candidate-title").textContent = `Candidate #${number}`;
    fill($("#candidate-figures"), el("span", { class: "error" }, failure.message));
    drawLayers(null);
    return;
  }
  if (state.selected !== number) return; // a later click won
  $("#candidate-title").textContent = `Candidate #${number} · ${candidate.kind}`;
  const score = `${fmtPercent(candidate.score)} (${candidate.fidelity})`;
  const ref = (state.points && state.points.reference) || {};
  const share = (value, total) => (value !== null && total ? ` (${fmtPercent(value / total, 0)})` : "");
  fill($("#candidate-figures"),
    el("span", {}, "score ", el("b", {}, score)),
    el("span", {}, "params ", el("b", {}, fmtCount(candidate.params)), share(candidate.params, ref.params)),
    el("span", {}, "MACs ", el("b", {}, fmtCount(candidate.macs)), share(candidate.macs, ref.macs)),
    candidate.latency_ms !== null ? el("span", {}, "latency ", el("b", {}, fmtMs(candidate.latency_ms))) : null,
    el("span", {}, candidate.feasible ? "within budget" : el("b", { class: "error-text" }, "over budget")),
    el("span", {}, `granularity ${candidate.granularity}`),
  );
  drawLayers(candidate);
  $("#layers-chart").dataset.number = String(number);
}

// -- leaderboard --

function yes(flag, mark = "✓") {
  return flag ? el("span", { class: mark === "★" ? "star" : "yes" }, mark) : el("span", { class: "no" }, "–");
}

// A finalist's paired margin over the best baseline, in points, with its 95% interval.
function fmtMargin(margin, se) {
  if (margin === null || margin === undefined) return "–";
  const sign = margin >= 0 ? "+" : "−";
  const spread = se === null || se === undefined ? "" : ` ± ${(196 * se).toFixed(2)}`;
  return `${sign}${Math.abs(100 * margin).toFixed(2)}${spread} pt`;
}

// What a score means at each stage: the plot and the table never show one without it.
const STAGE_TITLES = {
  final: "validation accuracy after the final fine-tune",
  rung: "search-split accuracy after this rung's short fine-tune (same seed for all)",
  screen: "search-split accuracy after adaptive BatchNorm alone (screening)",
};

function leaderboardRow(c) {
  const score = c.score === null ? "–" : fmtPercent(c.score);
  return el("tr", {
    class: `clickable${c.feasible ? "" : " infeasible"}${c.number === state.selected ? " selected" : ""}`,
    "data-testid": "leaderboard-row",
    "data-number": c.number,
    tabindex: 0,
    "aria-selected": String(c.number === state.selected),
    onclick: () => select(c.number, true),
    onkeydown: (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(c.number, true); } },
  },
  el("td", { class: "num" }, `#${c.number}`),
  el("td", {}, el("span", { class: `tag ${c.kind}` }, c.kind)),
  el("td", { class: "num", "data-testid": "candidate-score", title: STAGE_TITLES[c.fidelity] || STAGE_TITLES.rung },
    score, el("span", { class: "muted small" }, c.score !== null ? ` ${c.fidelity}` : "")),
  el("td", { class: "num", "data-testid": "candidate-margin" }, fmtMargin(c.margin, c.margin_se)),
  el("td", { class: "num" }, fmtPercent(c.test_accuracy)),
  el("td", { class: "num" }, fmtCount(c.params)),
  el("td", { class: "num" }, fmtCount(c.macs)),
  el("td", { class: "num" }, fmtMs(c.latency_ms)),
  el("td", {}, yes(c.feasible)),
  el("td", {}, yes(c.pareto, "★")),
  el("td", { class: "muted" }, c.state));
}

async function refreshLeaderboard() {
  const lb = state.lb;
  const params = new URLSearchParams({ sort: lb.sort, limit: lb.limit, offset: lb.offset });
  if (lb.order) params.set("order", lb.order);
  if (lb.feasible) params.set("feasible", "true");
  if (lb.pareto) params.set("pareto", "true");
  if (lb.kind) params.set("kind", lb.kind);
  if (lb.fidelity) params.set("fidelity", lb.fidelity);
  const page = await api(`${base}/leaderboard?${params}`);
  if (page.total > 0 && page.offset >= page.total) {
    lb.offset = Math.max(0, Math.floor((page.total - 1) / lb.limit) * lb.limit);
    return refreshLeaderboard();
  }
  fill($("#lb-body"), ...page.items.map(leaderboardRow));
  $("#lb-empty").hidden = page.items.length > 0;
  $("#lb-total").textContent = `${page.total.toLocaleString("en-US")} candidate${page.total === 1 ? "" : "s"}`;
  const first = page.total ? page.offset + 1 : 0;
  $("#lb-range").textContent = `${first.toLocaleString("en-US")}–${(page.offset + page.items.length).toLocaleString("en-US")} of ${page.total.toLocaleString("en-US")}`;
  $("#lb-prev").disabled = page.offset === 0;
  $("#lb-next").disabled = page.offset + page.items.length >= page.total;
  for (const th of document.querySelectorAll("#leaderboard-table th[data-sort]")) {
    const active = th.dataset.sort === page.sort;
    if (active) th.setAttribute("aria-sort", page.order === "asc" ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
  $("#sort-reset").disabled = page.sort === "rank";
  return page;
}

function wireLeaderboard() {
  const lb = state.lb;
  const reload = () => refreshLeaderboard().catch(showError);
  for (const th of document.querySelectorAll("#leaderboard-table th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.sort;
      if (lb.sort === key) {
        const current = lb.order || DEFAULT_ORDER[key] || "asc";
        lb.order = current === "asc" ? "desc" : "asc";
      } else {
        lb.sort = key;
        lb.order = DEFAULT_ORDER[key] || "asc";
      }
      lb.offset = 0;
      reload();
    });
  }
  $("#sort-reset").addEventListener("click", () => {
    lb.sort = "rank";
    lb.order = null;
    lb.offset = 0;
    reload();
  });
  $("#filter-feasible").addEventListener("change", (event) => { lb.feasible = event.target.checked; lb.offset = 0; reload(); });
  $("#filter-pareto").addEventListener("change", (event) => { lb.pareto = event.target.checked; lb.offset = 0; reload(); });
  $("#filter-kind").addEventListener("change", (event) => { lb.kind = event.target.value; lb.offset = 0; reload(); });
  $("#filter-fidelity").addEventListener("change", (event) => { lb.fidelity = event.target.value; lb.offset = 0; reload(); });
  $("#page-size").addEventListener("change", (event) => { lb.limit = Number(event.target.value); lb.offset = 0; reload(); });
  $("#lb-prev").addEventListener("click", () => { lb.offset = Math.max(0, lb.offset - lb.limit); reload(); });
  $("#lb-next").addEventListener("click", () => { lb.offset += lb.limit; reload(); });
  for (const input of document.querySelectorAll("input[name=pareto-axis]")) {
    input.addEventListener("change", (event) => {
      state.axis = event.target.value;
      renderPareto();
    });
  }
}

// -- the search's own plots --

function chartError(id, failure) {
  if (failure.status === 401) throw failure;
  const node = $(id);
  node.hidden = false;
  node.textContent = `Not available: ${failure.message}`;
}

async function refreshHistory() {
  let history;
  try {
    history = await api(`${base}/history`);
  } catch (failure) {
    chartError("#history-message", failure);
    return;
  }
  $("#history-direction").textContent = history.direction ? `${history.direction}` : "";
  drawHistory(history);
}

async function refreshImportance() {
  state.importanceAt = Date.now();
  let importance;
  try {
    importance = await api(`${base}/importance`);
  } catch (failure) {
    chartError("#importance-message", failure);
    return;
  }
  $("#importance-note").textContent = importance.trials_used ? `from ${importance.trials_used} trials` : "";
  drawImportance(importance);
}

// -- the loop --

function showError(failure) {
  if (failure.status === 401) return;
  const box = $("#job-missing");
  box.hidden = false;
  box.textContent = failure.message;
}

function signature(job) {
  const p = job.progress;
  return [job.status, p.trials_done, p.trials_failed, p.best_score, job.best_model_available].join("|");
}

async function refreshData(job, { importance }) {
  const tasks = [refreshPoints(), refreshLeaderboard(), refreshHistory(), refreshBest()];
  if (importance) tasks.push(refreshImportance());
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) showError(failed.reason);
  const best = results[3].status === "fulfilled" ? results[3].value : null;
  if (!state.selectedByUser) {
    const page = results[1].status === "fulfilled" ? results[1].value : null;
    const first = best ? best.candidate.number : page && page.items.length ? page.items[0].number : null;
    if (first !== null && (first !== state.selected || !document.getElementById("layers-chart").dataset.layers)) await select(first);
  } else if (state.selected !== null) {
    markSelected(state.points, currentAxis(), state.selected);
  }
  return job;
}

async function poll() {
  clearTimeout(state.timer);
  if (!state.running) return;
  if (document.hidden && state.job) {
    state.timer = setTimeout(poll, POLL_MS); // a tab in the background asks nothing
    return;
  }
  let job;
  try {
    job = await api(base);
    $("#job-missing").hidden = true;
    $("#job-body").hidden = false;
  } catch (failure) {
    if (failure.status === 401) return;
    showError(failure);
    if (failure.status === 404) {
      // Not this key's job, or no such job: nothing to show or poll.
      $("#job-body").hidden = true;
      $("#job-missing").textContent = `${failure.message} (or it belongs to another API key).`;
      return;
    }
    state.timer = setTimeout(poll, POLL_MS * 2);
    return;
  }
  if (!state.running) return;
  state.job = job;
  renderHeader(job);
  const final = FINAL_STATUSES.has(job.status);
  const sig = signature(job);
  if (sig !== state.signature) {
    const importance = final || Date.now() - state.importanceAt > IMPORTANCE_EVERY_MS;
    state.signature = sig;
    await refreshData(job, { importance });
  }
  if (!final && state.running) state.timer = setTimeout(poll, POLL_MS);
}

wireLeaderboard();
setupSession({
  start: () => {
    state.running = true;
    state.signature = null;
    poll();
  },
  stop: () => {
    state.running = false;
    clearTimeout(state.timer);
  },
});
