// The job page's actions: its spec and event timeline, Cancel (confirmed first) and "Run
// again" (the spec in an editable box, submitted as a new job, then opened). The session
// cookie authenticates reads only (see service.api.deps.get_owner), so with auth on a change
// asks for the API key and sends it once as the bearer header; it is never stored.
import { $, api, el, fill, FINAL_STATUSES, fmtTime } from "./common.js";

const state = { auth: null, shownSpecFor: null, eventsSeen: -1 };

async function authOn() {
  if (state.auth === null) {
    const session = await api("/ui/session").catch(() => ({ auth: true }));
    state.auth = Boolean(session.auth);
  }
  return state.auth;
}

async function showForm(form) {
  const needsKey = await authOn();
  for (const label of form.querySelectorAll(".action-key")) label.hidden = !needsKey;
  form.hidden = false;
}

/** The request options of a change: the typed key as the bearer header (auth on). */
function changeOptions(form, method, body) {
  const input = form.querySelector("input[name=api_key]");
  const key = input ? input.value.trim() : "";
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  return { method, body, headers, keepSession: true };
}

/** With auth on, a change needs the key typed: say so before asking the server. */
function missingKey(form) {
  const input = form.querySelector("input[name=api_key]");
  return state.auth && input && !input.value.trim()
    ? "Enter your API key: the page's sign-in only reads, a change needs the key itself." : null;
}

function showError(form, testid, message) {
  const node = form.querySelector(`[data-testid=${testid}]`);
  node.hidden = !message;
  node.textContent = message || "";
}

function eventRow(event) {
  const change = event.from_status ? `${event.from_status} → ${event.to_status}` : event.to_status;
  return el("li", { "data-testid": "job-event", "data-status": event.to_status },
    el("time", { datetime: event.at }, fmtTime(event.at)), " ", el("b", {}, change),
    event.message ? el("span", { class: "muted" }, ` · ${event.message}`) : null);
}

let wired = false;

function wire(job, refresh) {
  wired = true;
  const jobPath = `/v1/jobs/${encodeURIComponent(job.id)}`;
  const cancelForm = $("#cancel-form");
  const rerunForm = $("#rerun-form");
  $("#cancel-job").addEventListener("click", () => {
    showError(cancelForm, "cancel-error", "");
    showForm(cancelForm);
  });
  cancelForm.querySelector("[data-testid=cancel-dismiss]").addEventListener("click", () => { cancelForm.hidden = true; });
  cancelForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const missing = missingKey(cancelForm);
    if (missing) {
      showError(cancelForm, "cancel-error", missing);
      return;
    }
    try {
      await api(jobPath, changeOptions(cancelForm, "DELETE"));
    } catch (failure) {
      showError(cancelForm, "cancel-error", failure.message);
      return;
    }
    cancelForm.hidden = true;
    cancelForm.reset();
    refresh();
  });
  $("#run-again").addEventListener("click", () => {
    showError(rerunForm, "rerun-error", "");
    $("#rerun-spec").value = JSON.stringify(state.spec, null, 2);
    showForm(rerunForm);
    $("#rerun-spec").focus();
  });
  rerunForm.querySelector("[data-testid=rerun-dismiss]").addEventListener("click", () => { rerunForm.hidden = true; });
  rerunForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    let spec;
    try {
      spec = JSON.parse($("#rerun-spec").value);
    } catch (error) {
      showError(rerunForm, "rerun-error", `The spec is not valid JSON: ${error.message}`);
      return;
    }
    const missing = missingKey(rerunForm);
    if (missing) {
      showError(rerunForm, "rerun-error", missing);
      return;
    }
    let created;
    try {
      created = await api("/v1/jobs", changeOptions(rerunForm, "POST", spec));
    } catch (failure) {
      showError(rerunForm, "rerun-error", failure.message);
      return;
    }
    window.location.assign(`/ui/jobs/${encodeURIComponent(created.id)}`);
  });
}

/** Fills the spec, the events and the buttons from `job` (called on every poll). */
export function renderActions(job, { refresh }) {
  state.spec = job.spec;
  if (!wired) wire(job, refresh);
  if (state.shownSpecFor !== job.id) {
    state.shownSpecFor = job.id;
    $("#job-spec").textContent = JSON.stringify(job.spec, null, 2);
  }
  const events = job.events || [];
  if (events.length !== state.eventsSeen) {
    state.eventsSeen = events.length;
    fill($("#job-events"), ...events.map(eventRow));
  }
  const over = FINAL_STATUSES.has(job.status);
  $("#cancel-job").hidden = over || job.cancel_requested;
  if (over) $("#cancel-form").hidden = true;
}
