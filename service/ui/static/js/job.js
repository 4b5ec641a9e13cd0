// One job (/ui/jobs/{id}): live header, Pareto plot, a candidate's layers, the leaderboard
// (paged and sorted by the server), the best model's downloads and the search's own plots.
// The page's state (sort, filters, page, axis, selected candidate) lives in the query string.
import {
  $, api, el, fill, FINAL_STATUSES, fmtCount, fmtDuration, fmtMs, fmtPercent, fmtSignedPoints, fmtTime,
  progressBar, readQuery, setupSession, statusBadge, writeQuery,
} from "./common.js";
import {
  drawHistory, drawImportance, drawLayers, drawPareto, latencyNote, markSelected,
} from "./charts.js";
import { renderActions } from "./job_actions.js";
import { refreshLayerViews } from "./layers.js";

const POLL_MS = 2000;
const IMPORTANCE_EVERY_MS = 15000; // importance is costly to compute: not on every poll
const DEFAULT_ORDER = { score: "desc" };

const jobId = decodeURIComponent(window.location.pathname.replace(/\/+$/, "").split("/").pop());
const base = `/v1/jobs/${encodeURIComponent(jobId)}`;

const SORTS = ["rank", "number", "score", "params", "macs", "latency_ms"];
const KINDS = ["search", "uniform", "global", "sensitivity"];
const LIMITS = [25, 50];
const AXIS_KEYS = ["macs", "latency_ms"];

const state = {
  running: false,
  timer: null,
  job: null,
  signature: null,
  points: null,
  axis: null, // chosen by the user, else from the job's objective and budget
  selected: null,
  selectedByUser: false,
  importanceAt: 0,
  bestCandidate: null, // the job's chosen best model once final (the history marks it)
  lb: { sort: "rank", order: null, offset: 0, limit: 25, feasible: false, pareto: false, kind: "", fidelity: "" },
};

/** Restores the page's state from the query string (unknown values are ignored). */
function loadQuery() {
  const q = readQuery();
  const lb = state.lb;
  if (SORTS.includes(q.sort)) lb.sort = q.sort;
  if (q.order === "asc" || q.order === "desc") lb.order = q.order;
  lb.feasible = q.feasible === "1";
  lb.pareto = q.pareto === "1";
  if (KINDS.includes(q.kind)) lb.kind = q.kind;
  if (/^(screen|final|rung-\d+)$/.test(q.stage || "")) lb.fidelity = q.stage;
  if (LIMITS.includes(Number(q.rows))) lb.limit = Number(q.rows);
  const pageNumber = Number.parseInt(q.page, 10);
  if (pageNumber > 1) lb.offset = (pageNumber - 1) * lb.limit;
  if (AXIS_KEYS.includes(q.axis)) state.axis = q.axis;
  const number = Number.parseInt(q.candidate, 10);
  if (Number.isInteger(number) && number >= 0) {
    state.selected = number;
    state.selectedByUser = true;
  }
  $("#filter-feasible").checked = lb.feasible;
  $("#filter-pareto").checked = lb.pareto;
  $("#filter-kind").value = lb.kind;
  const stage = $("#filter-fidelity");
  if (lb.fidelity && ![...stage.options].some((o) => o.value === lb.fidelity)) stage.append(el("option", {}, lb.fidelity));
  stage.value = lb.fidelity;
  $("#page-size").value = String(lb.limit);
}

/** Writes the page's state into the address (replaceState: no history entry per click). */
function saveQuery() {
  const lb = state.lb;
  writeQuery({
    sort: lb.sort, order: lb.order, feasible: lb.feasible, pareto: lb.pareto, kind: lb.kind,
    stage: lb.fidelity, rows: lb.limit, page: Math.floor(lb.offset / lb.limit) + 1,
    axis: state.axis, candidate: state.selectedByUser ? state.selected : null,
  }, { sort: "rank", rows: 25, page: 1 });
}

/** A link to this page with `number` selected (and the rest of the current state). */
function candidateHref(number) {
  const params = new URLSearchParams(window.location.search);
  params.set("candidate", String(number));
  return `${window.location.pathname}?${params}`;
}

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
  const ended = endedText(job);
  $("#job-ended").hidden = !ended;
  $("#job-ended").textContent = ended || "";
  $("#job-live").textContent = FINAL_STATUSES.has(job.status)
    ? "" : `Live: updated every ${POLL_MS / 1000} s until the job is over.`;
}

/** Why and when a cancelled or failed job stopped, from its events (else its fields). */
function endedText(job) {
  if (job.status !== "cancelled" && job.status !== "failed") return null;
  const event = (job.events || []).filter((e) => e.to_status === job.status).pop();
  const at = (event && event.at) || job.timings.finished_at;
  const verb = job.status === "cancelled" ? "Cancelled" : "Failed";
  let why = event && event.message;
  // A failed job's error is shown in full just below: not twice.
  if (job.status === "failed" && job.error && (!why || why === job.error)) why = "the error below says why";
  if (!why && job.status === "cancelled") why = job.cancel_requested ? "cancel requested by the owner" : null;
  const done = job.progress.trials_done;
  const after = job.timings.started_at
    ? ` after ${fmtDuration(job.timings.run_s)} and ${done} of ${job.progress.trials_planned} trials`
    : " before it started";
  return `${verb} ${fmtTime(at)}${after}: ${why || "no reason was recorded"}.`;
}

/** Whether the job has a best candidate to ask /best for (no request that would 404). */
function hasBest(job) {
  const result = job.result || {};
  return Boolean(result.best) || (job.progress.best_score !== null && job.progress.best_score !== undefined);
}

// -- best model and downloads --

const FORMAT_LABELS = { bundle: "bundle (.zip)", onnx: "ONNX", safetensors: "safetensors" };

// The best model's gain over one baseline, on validation (the split that chose it) and on
// test data (which chose nothing), or "none" when the best is that baseline itself.
function gainStat(best, kind) {
  const c = best.candidate;
  const baseline = (best.baselines || {})[kind];
  const val = best[`gain_over_${kind}`];
  let text;
  if (baseline && baseline.number === c.number) {
    text = el("span", {}, "none", el("span", { class: "small" }, ` · the best is the ${kind} baseline`));
  } else {
    let test = best[`test_gain_over_${kind}`];
    if ((test === null || test === undefined) && baseline && c.test_accuracy !== null && baseline.test_accuracy !== null
      && c.test_accuracy !== undefined && baseline.test_accuracy !== undefined) {
      test = c.test_accuracy - baseline.test_accuracy;
    }
    if ((val === null || val === undefined) && (test === null || test === undefined)) {
      if (!baseline) return null;
      text = "–";
    } else {
      text = el("span", {}, `${fmtSignedPoints(val)} val`, el("span", { class: "small" }, ` · ${fmtSignedPoints(test)} test`));
    }
  }
  const title = baseline ? `against #${baseline.number} (${kind} baseline, val ${fmtPercent(baseline.accuracy)}, test ${fmtPercent(baseline.test_accuracy)})` : "";
  const node = stat(`vs. ${kind}`, text, `gain-${kind}`);
  if (title) node.title = title;
  return node;
}

// The paired margin over the best baseline (same images) with its 95% interval, as /best
// reports it (margin_ci95); "none" when the best is a baseline.
function marginStat(best) {
  const c = best.candidate;
  let value;
  if (c.kind !== "search") {
    value = el("span", {}, "none", el("span", { class: "small" }, ` · the best is the ${c.kind} baseline`));
  } else {
    // Older jobs' /best lacks the margin fields: the candidate's own then.
    const fromBest = best.margin !== null && best.margin !== undefined;
    const margin = fromBest ? best.margin : c.margin;
    const se = fromBest ? best.margin_se : c.margin_se;
    if (margin === null || margin === undefined) return null;
    const ci = best.margin_ci95 || (se === null || se === undefined ? null : [margin - 1.96 * se, margin + 1.96 * se]);
    const interval = ci ? ` · 95% CI ${fmtSignedPoints(ci[0], 2)} to ${fmtSignedPoints(ci[1], 2)}` : "";
    value = el("span", {}, fmtMargin(margin, se), el("span", { class: "small" }, interval));
  }
  const node = stat("Paired margin (val)", value, "best-margin");
  node.title = "validation accuracy minus the best baseline's, paired on the same images; the interval is ±1.96 standard errors";
  return node;
}

async function refreshBest(job) {
  let best = null;
  if (hasBest(job)) {
    try {
      best = await api(`${base}/best`);
    } catch (failure) {
      if (failure.status !== 404) throw failure;
    }
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
    stat(c.accuracy !== null ? "Accuracy (val)" : `Score (${c.fidelity}, search split)`, fmtPercent(c.accuracy ?? c.score), "best-accuracy"),
    stat("Accuracy (test)", fmtPercent(c.test_accuracy), "best-test"),
    stat("Params", el("span", {}, fmtCount(c.params), el("span", { class: "small" }, best.params_ratio !== null ? ` · ${fmtPercent(best.params_ratio, 0)}` : "")), "best-params"),
    stat("MACs", el("span", {}, fmtCount(c.macs), el("span", { class: "small" }, best.macs_ratio !== null ? ` · ${fmtPercent(best.macs_ratio, 0)}` : "")), "best-macs"),
    c.latency_ms !== null ? stat("Latency", fmtMs(c.latency_ms), "best-latency") : null,
    best.final ? marginStat(best) : null,
    ...(best.final ? ["uniform", "global", "sensitivity"].map((kind) => gainStat(best, kind)) : []),
    ref.val_accuracy !== undefined && ref.val_accuracy !== null
      ? stat("Unpruned val · test", `${fmtPercent(ref.val_accuracy)} · ${fmtPercent(ref.test_accuracy)}`, "reference") : null,
  );
  return best;
}

// -- Pareto plot and the selected candidate --

function currentAxis() {
  if (state.axis && (state.axis !== "latency_ms" || !state.points || hasLatency())) return state.axis;
  const objective = state.points && state.points.objective;
  const latencyBudget = state.points && state.points.budget && state.points.budget.max_latency_ms !== null
    && state.points.budget.max_latency_ms !== undefined;
  // A latency objective or budget opens on the latency axis, where its budget line is.
  return (objective === "latency" || latencyBudget) && hasLatency() ? "latency_ms" : "macs";
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
  const job = state.job;
  const ended = job && FINAL_STATUSES.has(job.status) ? job.status : null;
  drawPareto(state.points, { axis, selected: state.selected, ended, onSelect: (n) => select(n, true) });
  const spec = (job && job.spec) || {};
  $("#latency-header").title = `latency: ${latencyNote(spec)}`;
  $("#pareto-note").textContent = axis === "latency_ms"
    ? `Latency: ${latencyNote(spec)} Click a point to see its layers.`
    : "Click a point to see its layers.";
}

async function refreshPoints() {
  state.points = await api(`${base}/points`);
  renderPareto();
}

async function select(number, byUser = false) {
  if (number === null || number === undefined) return;
  state.selected = number;
  if (byUser) state.selectedByUser = true;
  saveQuery();
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
  fill($("#candidate-title"), `Candidate #${number} · ${candidate.kind} `,
    el("a", { href: candidateHref(number), class: "small", "data-testid": "candidate-permalink", title: "a link to this page with this candidate selected (copy it to share)" }, "link"));
  const score = `${fmtPercent(candidate.score)} (${candidate.fidelity})`;
  const ref = (state.points && state.points.reference) || {};
  const share = (value, total) => (value !== null && total ? ` (${fmtPercent(value / total, 0)})` : "");
  fill($("#candidate-figures"),
    el("span", {}, "score ", el("b", {}, score)),
    el("span", {}, "params ", el("b", {}, fmtCount(candidate.params)), share(candidate.params, ref.params)),
    el("span", {}, "MACs ", el("b", {}, fmtCount(candidate.macs)), share(candidate.macs, ref.macs)),
    candidate.latency_ms !== null ? el("span", {}, "latency ", el("b", {}, fmtMs(candidate.latency_ms))) : null,
    el("span", {}, candidate.feasible ? "within budget" : el("b", { class: "error-text" }, "✕ over budget")),
    el("span", {}, `granularity ${candidate.granularity}`),
    downloadNote(candidate),
  );
  drawLayers(candidate);
  $("#layers-chart").dataset.number = String(number);
}

// A Download link where the candidate has weights (the best of a succeeded job), else the
// server's reason (only the chosen model's weights are kept).
function downloadNote(candidate) {
  if (candidate.model_url) {
    return el("a", { class: "button-link", href: candidate.model_url, download: "", "data-testid": "candidate-download" }, "⤓ Download bundle");
  }
  if (!candidate.no_model_reason) return null;
  return el("span", { class: "muted small", "data-testid": "candidate-no-download" }, `No download: ${candidate.no_model_reason}.`);
}

// -- leaderboard --

function yes(flag, mark = "✓") {
  return flag ? el("span", { class: mark === "★" ? "star" : "yes" }, mark) : el("span", { class: "no" }, "–");
}

function feasibleMark(feasible) {
  return feasible
    ? el("span", { class: "yes", "aria-label": "feasible: within budget", "data-testid": "feasible-mark" }, "✓")
    : el("span", { class: "infeasible-mark", "aria-label": "infeasible: over budget", "data-testid": "feasible-mark" }, "✕ infeasible");
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
  el("td", { class: "num", "data-label": "Trial" }, el("a", {
    href: candidateHref(c.number), "data-testid": "candidate-link", title: "link to this candidate (copy to share)",
    onclick: (event) => { if (!event.ctrlKey && !event.metaKey && !event.shiftKey) event.preventDefault(); },
  }, `#${c.number}`)),
  el("td", { "data-label": "Kind" }, el("span", { class: `tag ${c.kind}` }, c.kind)),
  el("td", { class: "num", "data-testid": "candidate-score", "data-label": "Score", title: STAGE_TITLES[c.fidelity] || STAGE_TITLES.rung },
    score, el("span", { class: "muted small" }, c.score !== null ? ` ${c.fidelity}` : "")),
  el("td", { class: "num", "data-testid": "candidate-margin", "data-label": "Margin" }, fmtMargin(c.margin, c.margin_se)),
  el("td", { class: "num", "data-label": "Test acc." }, fmtPercent(c.test_accuracy)),
  el("td", { class: "num", "data-label": "Params" }, fmtCount(c.params)),
  el("td", { class: "num", "data-label": "MACs", "data-testid": "candidate-macs" }, fmtCount(c.macs)),
  el("td", { class: "num", "data-label": "Latency" }, fmtMs(c.latency_ms)),
  el("td", { "data-label": "Feasible", "data-testid": "candidate-feasible" }, feasibleMark(c.feasible)),
  el("td", { "data-label": "Pareto", "data-testid": "candidate-pareto" }, yes(c.pareto, "★")),
  el("td", { class: "muted", "data-label": "State" }, c.state));
}

// The export buttons carry the table's filters and order, not its page: CSV is every
// matching row (streamed by the server), JSON the API's largest page.
function exportLinks(params) {
  const query = new URLSearchParams(params);
  query.delete("limit");
  query.delete("offset");
  query.set("format", "csv");
  $("#export-csv").href = `${base}/leaderboard?${query}`;
  query.set("format", "json");
  query.set("limit", "1000");
  $("#export-json").href = `${base}/leaderboard?${query}`;
  $("#export-json").setAttribute("download", `leaderboard-${jobId.slice(0, 8)}.json`);
  $("#export-points-csv").href = `${base}/points?format=csv`;
  $("#export-points-json").href = `${base}/points`;
  $("#export-points-json").setAttribute("download", `points-${jobId.slice(0, 8)}.json`);
}

async function refreshLeaderboard() {
  const lb = state.lb;
  const params = new URLSearchParams({ sort: lb.sort, limit: lb.limit, offset: lb.offset });
  if (lb.order) params.set("order", lb.order);
  if (lb.feasible) params.set("feasible", "true");
  if (lb.pareto) params.set("pareto", "true");
  if (lb.kind) params.set("kind", lb.kind);
  if (lb.fidelity) params.set("fidelity", lb.fidelity);
  saveQuery();
  exportLinks(params);
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
  const ranked = page.sort === "rank";
  $("#sort-reset").setAttribute("aria-pressed", String(ranked));
  $("#sort-reset").classList.toggle("active", ranked);
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
      saveQuery();
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
  $("#history-direction").textContent = history.direction ? `screening score, ${history.direction}d` : "";
  drawHistory(history, { best: state.bestCandidate });
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
  // The server computes what the embedded dashboard does (same evaluator, trials, target)
  // and says when there are too few trials to read the order as a ranking.
  const evaluator = importance.evaluator || "Optuna";
  $("#importance-note").textContent = importance.trials_used
    ? `${evaluator} (as the dashboard) · from ${importance.trials_used} complete trials` : "";
  const warning = $("#importance-warning");
  warning.textContent = importance.warning ? `Not a ranking yet: ${importance.warning}.` : "";
  warning.hidden = !importance.warning;
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
  const bestTask = refreshBest(job).then((best) => {
    state.bestCandidate = best && best.final ? best.candidate : null;
    return best;
  });
  const tasks = [refreshPoints(), refreshLeaderboard(), bestTask.then(refreshHistory, refreshHistory), bestTask];
  if (importance) tasks.push(refreshImportance());
  tasks.push(refreshLayerViews(base, job)); // after index 3: the reads below count on the order
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) showError(failed.reason);
  const best = results[3].status === "fulfilled" ? results[3].value : null;
  if (!state.selectedByUser) {
    const page = results[1].status === "fulfilled" ? results[1].value : null;
    const first = best ? best.candidate.number : page && page.items.length ? page.items[0].number : null;
    if (first !== null && (first !== state.selected || !document.getElementById("layers-chart").dataset.layers)) await select(first);
  } else if (state.selected !== null) {
    // Selected by the user or by the address: draw its layers once, then only move the ring.
    if ($("#layers-chart").dataset.number !== String(state.selected)) await select(state.selected);
    else markSelected(state.points, currentAxis(), state.selected);
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
  renderActions(job, { refresh: poll });
  const final = FINAL_STATUSES.has(job.status);
  const sig = signature(job);
  if (sig !== state.signature) {
    const importance = final || Date.now() - state.importanceAt > IMPORTANCE_EVERY_MS;
    state.signature = sig;
    await refreshData(job, { importance });
  }
  if (!final && state.running) state.timer = setTimeout(poll, POLL_MS);
}

loadQuery();
wireLeaderboard();
// The system switched between light and dark: redraw the charts in the new colours (charts.js
// has read them by then: its listener was added first).
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  if (!state.running) return;
  state.signature = null;
  poll();
});
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
