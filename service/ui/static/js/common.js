// Shared by the pages: the REST calls, the sign-in, formatting and small DOM helpers.
// The API key lives in an HttpOnly cookie set by POST /ui/session: this script never sees it.

export const FINAL_STATUSES = new Set(["succeeded", "failed", "cancelled"]);

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

let onAuthRequired = () => {};

/** GET (or other method) a JSON resource of this server; throws ApiError on 4xx/5xx. */
/** `headers` are added to the request; `keepSession`: a 401 is the caller's to show (a
 * wrong key typed for one change), not a reason to sign the page out. */
export async function api(path, { method = "GET", body, headers = {}, keepSession = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `the server did not answer (${error.message})`);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = (data && data.detail) || `${response.status} ${response.statusText}`;
    if (response.status === 401 && !keepSession) onAuthRequired(detail);
    throw new ApiError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return data;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Replaces node's children, skipping null/undefined/false (replaceChildren would print "null"). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** el("td", {class: "num", title: "x"}, "text", otherNode) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// -- formatting --

const DASH = "–";

export function fmtCount(value) {
  if (value === null || value === undefined) return DASH;
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toPrecision(3)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${(value / 1e3).toPrecision(3)}k`;
  return Math.round(value).toLocaleString("en-US");
}

export function fmtPercent(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return DASH;
  return `${(value * 100).toFixed(digits)} %`;
}

export function fmtSignedPoints(value, digits = 1) {
  if (value === null || value === undefined) return DASH;
  const points = value * 100;
  return `${points >= 0 ? "+" : "−"}${Math.abs(points).toFixed(digits)} pt`;
}

/**
 * A percent tick label with just enough decimals that neighbouring ticks never read alike
 * (ticks 0.5 % apart get one decimal, 0.05 % apart two): pass Chart.js's (value, index, ticks).
 */
export function fmtPercentTick(value, _index, ticks) {
  let step = Infinity;
  for (let i = 1; i < (ticks || []).length; i += 1) {
    const gap = Math.abs(ticks[i].value - ticks[i - 1].value) * 100;
    if (gap > 0) step = Math.min(step, gap);
  }
  const digits = Number.isFinite(step) ? Math.min(4, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9))) : 0;
  return `${(value * 100).toFixed(digits)} %`;
}

// -- page state in the query string (history.replaceState: reload and links restore it) --

/** The query string's values as an object of strings. */
export function readQuery() {
  return Object.fromEntries(new URLSearchParams(window.location.search));
}

/** Writes `values` into the address (empty, null, false and defaults left out). */
export function writeQuery(values, defaults = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value === null || value === undefined || value === "" || value === false) continue;
    if (defaults[key] !== undefined && String(defaults[key]) === String(value)) continue;
    params.set(key, value === true ? "1" : String(value));
  }
  const query = params.toString();
  const url = `${window.location.pathname}${query ? `?${query}` : ""}${window.location.hash}`;
  if (url !== `${window.location.pathname}${window.location.search}${window.location.hash}`) {
    window.history.replaceState(null, "", url);
  }
}

export function fmtMs(value) {
  if (value === null || value === undefined) return DASH;
  return value >= 100 ? `${value.toFixed(0)} ms` : `${value.toPrecision(3)} ms`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, "0")} min`;
}

export function fmtTime(iso) {
  if (!iso) return DASH;
  const date = new Date(iso);
  const sameYear = date.getFullYear() === new Date().getFullYear();
  return date.toLocaleString(undefined, {
    year: sameYear ? undefined : "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
}

export function fmtAgo(iso) {
  if (!iso) return DASH;
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return fmtTime(iso);
}

/** A CSS custom property of the page (light or dark scheme), for the charts' colours. */
export function cssVar(name, fallback = "") {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export function statusBadge(status) {
  return el("span", { class: `badge ${status}`, "data-testid": "status" }, status);
}

export function progressBar(done, planned, status, label) {
  const fraction = planned > 0 ? Math.min(done / planned, 1) : 0;
  const bar = el("div", {
    class: `bar${status === "succeeded" ? " done" : ""}${status === "failed" ? " failed" : ""}`,
    role: "progressbar",
    "aria-label": label,
    "aria-valuemin": 0,
    "aria-valuemax": planned,
    "aria-valuenow": Math.min(done, planned),
  });
  bar.append(el("span", { style: `width: ${(fraction * 100).toFixed(1)}%` }));
  return bar;
}

// -- sign-in --

/**
 * Wires the header's session area and the sign-in form, then calls start() once signed in
 * (at once when the cookie is valid or auth is off). stop() is called when a later request
 * answers 401 (a revoked key, a cleared cookie), before the form shows again.
 */
export function setupSession({ start, stop = () => {} }) {
  const form = $("#signin-form");
  const section = $("#signin");
  const content = $("#content");
  const error = $("#signin-error");
  const who = $("#session-owner");
  const signOut = $("#sign-out");
  let started = false;

  const showSignIn = (message) => {
    if (started) stop();
    started = false;
    content.hidden = true;
    section.hidden = false;
    $("#session").hidden = true;
    error.hidden = !message;
    error.textContent = message || "";
    $("#api-key").focus();
  };
  const signedIn = (session) => {
    section.hidden = true;
    content.hidden = false;
    $("#session").hidden = false;
    who.textContent = session.auth ? `signed in as ${session.owner}` : "auth off (local)";
    signOut.hidden = !session.auth;
    if (!started) {
      started = true;
      start();
    }
  };
  onAuthRequired = (detail) => {
    if (started) showSignIn(`Signed out: ${detail}`);
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("#api-key").value.trim();
    if (!key) {
      showSignIn("Enter an API key (from `prunesearch keys create --owner NAME`).");
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const session = await api("/ui/session", { method: "POST", body: { api_key: key } });
      $("#api-key").value = "";
      signedIn(session);
    } catch (failure) {
      showSignIn(failure.message);
    } finally {
      button.disabled = false;
    }
  });
  signOut.addEventListener("click", async () => {
    await api("/ui/session", { method: "DELETE" }).catch(() => null);
    showSignIn("");
  });

  api("/ui/session")
    .then(signedIn)
    .catch((failure) => showSignIn(failure.status === 401 ? "" : failure.message));
}
