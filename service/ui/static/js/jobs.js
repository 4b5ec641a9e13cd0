// The jobs list (/ui): the caller's jobs, newest first, refreshed every few seconds while
// one is active and slowly otherwise (a job submitted meanwhile still shows up). The status
// filter and the page live in the query string.
import {
  $, api, el, FINAL_STATUSES, fmtAgo, fmtDuration, fmtPercent, fmtTime, progressBar,
  readQuery, setupSession, statusBadge, writeQuery,
} from "./common.js";

const PAGE_SIZE = 20;
const REFRESH_MS = 3000;
const IDLE_REFRESH_MS = 10000;
const STATUSES = ["queued", "running", "finalizing", "succeeded", "failed", "cancelled"];

const query = readQuery();
const state = {
  offset: Math.max(0, (Number.parseInt(query.page, 10) || 1) - 1) * PAGE_SIZE,
  status: STATUSES.includes(query.status) ? query.status : "",
  // Jobs ticked for comparison, kept across pages and refreshes (and in the address).
  picked: new Set((query.compare || "").split(",").filter(Boolean)),
  timer: null,
  running: false,
  loaded: false,
};

function saveQuery() {
  writeQuery({ status: state.status, page: state.offset / PAGE_SIZE + 1, compare: [...state.picked].join(",") }, { page: 1 });
}

const MAX_COMPARED = 10; // the API's limit

function updateCompare() {
  const link = $("#compare-link");
  const ids = [...state.picked];
  const ready = ids.length >= 2 && ids.length <= MAX_COMPARED;
  link.setAttribute("aria-disabled", String(!ready));
  link.textContent = ids.length ? `Compare (${ids.length})` : "Compare";
  if (ready) link.href = `/ui/compare?jobs=${ids.map(encodeURIComponent).join(",")}`;
  else link.removeAttribute("href");
  link.title = ready ? "the ticked jobs side by side"
    : ids.length > MAX_COMPARED ? `at most ${MAX_COMPARED} jobs at once` : "tick two or more jobs (up to 10) to compare them";
}

function jobRow(job) {
  const { progress, timings } = job;
  const done = progress.trials_done;
  const planned = progress.trials_planned;
  const failed = progress.trials_failed ? ` · ${progress.trials_failed} failed` : "";
  const pick = el("input", { type: "checkbox", "data-testid": "job-pick", "aria-label": `compare ${job.name}` });
  pick.checked = state.picked.has(job.id);
  pick.addEventListener("change", () => {
    if (pick.checked) state.picked.add(job.id);
    else state.picked.delete(job.id);
    saveQuery();
    updateCompare();
  });
  return el(
    "tr",
    { "data-testid": "job-row", "data-job-id": job.id, "data-status": job.status },
    el("td", { class: "pick", "data-label": "Compare" }, pick),
    el("td", {}, el("a", { href: `/ui/jobs/${encodeURIComponent(job.id)}`, "data-testid": "job-link" }, job.name),
      el("div", { class: "muted small mono" }, job.id.slice(0, 12))),
    el("td", { "data-label": "Status" }, statusBadge(job.status), job.cancel_requested && !FINAL_STATUSES.has(job.status)
      ? el("span", { class: "muted small" }, " cancelling") : null),
    el("td", { class: "progress", "data-label": "Progress" }, el("div", { class: "progress-cell" },
      progressBar(done, planned, job.status, `trials of ${job.name}`),
      el("span", { class: "count", title: `${done} of ${planned} trials done${failed}` }, `${done}/${planned}`))),
    el("td", { class: "num", "data-testid": "job-best", "data-label": "Best so far" }, fmtPercent(progress.best_score)),
    el("td", { class: "num", "data-label": "Run time" }, fmtDuration(timings.run_s)),
    el("td", { title: fmtTime(timings.created_at), "data-label": "Created" }, fmtAgo(timings.created_at)),
  );
}

async function load() {
  clearTimeout(state.timer);
  if (!state.running) return;
  if (document.hidden && state.loaded) {
    state.timer = setTimeout(load, REFRESH_MS); // a tab in the background asks nothing
    return;
  }
  saveQuery();
  const params = new URLSearchParams({ limit: PAGE_SIZE, offset: state.offset });
  if (state.status) params.set("status", state.status);
  const error = $("#jobs-error");
  let page;
  try {
    page = await api(`/v1/jobs?${params}`);
    error.hidden = true;
  } catch (failure) {
    if (failure.status === 401) return;
    error.hidden = false;
    error.textContent = failure.message;
    state.timer = setTimeout(load, REFRESH_MS * 3);
    return;
  }
  if (!state.running) return;
  if (page.total > 0 && page.offset >= page.total) {
    // A page past the end (an old link, fewer jobs now): the last page instead.
    state.offset = Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE;
    load();
    return;
  }
  state.loaded = true;
  $("#jobs-body").replaceChildren(...page.items.map(jobRow));
  $("#jobs-empty").hidden = page.items.length > 0 || !state.status;
  $("#jobs-none").hidden = page.items.length > 0 || Boolean(state.status);
  $("#jobs-empty").textContent = `No ${state.status} jobs.`;
  $("#jobs-total").textContent = `${page.total} job${page.total === 1 ? "" : "s"}`;
  const first = page.total ? page.offset + 1 : 0;
  $("#jobs-range").textContent = `${first}–${page.offset + page.items.length} of ${page.total}`;
  $("#jobs-prev").disabled = page.offset === 0;
  $("#jobs-next").disabled = page.offset + page.items.length >= page.total;
  const active = page.items.some((job) => !FINAL_STATUSES.has(job.status));
  $("#jobs-refresh").textContent = active
    ? `Live: refreshed every ${REFRESH_MS / 1000} s while a job is active.`
    : `Updated ${new Date().toLocaleTimeString()}; checked every ${IDLE_REFRESH_MS / 1000} s for new jobs.`;
  state.timer = setTimeout(load, active ? REFRESH_MS : IDLE_REFRESH_MS);
}

$("#status-filter").value = state.status;
updateCompare();

$("#status-filter").addEventListener("change", (event) => {
  state.status = event.target.value;
  state.offset = 0;
  load();
});
$("#jobs-prev").addEventListener("click", () => {
  state.offset = Math.max(0, state.offset - PAGE_SIZE);
  load();
});
$("#jobs-next").addEventListener("click", () => {
  state.offset += PAGE_SIZE;
  load();
});

setupSession({
  start: () => {
    state.running = true;
    load();
  },
  stop: () => {
    state.running = false;
    clearTimeout(state.timer);
  },
});
