// Shared by every page: the CSRF-carrying fetch wrapper, error wording, log-out.
// Everything user-controlled is put into the page with textContent, never as HTML.

const meta = document.querySelector('meta[name="csrf-token"]');
export const csrfToken = meta ? meta.content : "";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

// fetch() for our own JSON endpoints: same-origin cookie, CSRF header on changes,
// and the service's error envelope turned into an ApiError.
export async function api(path, { method = "GET", json, body, headers = {} } = {}) {
  const opts = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (method !== "GET" && method !== "HEAD") opts.headers["X-CSRF-Token"] = csrfToken;
  if (json !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(json);
  } else if (body !== undefined) {
    opts.body = body;
  }
  let response;
  try {
    response = await fetch(path, opts);
  } catch (err) {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.", {});
  }
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (!response.ok) {
    const e = (data && data.error) || {};
    const error = new ApiError(response.status, e.code || "error", e.message || `Request failed (${response.status}).`, e.details);
    error.retryAfter = response.headers.get("Retry-After");
    throw error;
  }
  return data;
}

// A multipart upload with progress reports (fetch() cannot report upload progress).
// Resolves with the JSON body; rejects with the same ApiError as api().
export function upload(path, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.withCredentials = true;
    xhr.responseType = "json";
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    if (onProgress) {
      xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    }
    xhr.addEventListener("load", () => {
      const data = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) { resolve(data); return; }
      const e = (data && data.error) || {};
      const error = new ApiError(xhr.status, e.code || "error", e.message || `Upload failed (${xhr.status}).`, e.details);
      error.retryAfter = xhr.getResponseHeader("Retry-After");
      reject(error);
    });
    // The server stops reading an oversized body and answers 413; some browsers then
    // report only a network error, so say what the likely cause is.
    xhr.addEventListener("error", () => reject(new ApiError(0, "network",
      "The upload was interrupted. Check your connection; files must be under 100 MB.", {})));
    xhr.send(body);
  });
}

// What to tell a person about a refused request, with what to do next.
export function explain(error) {
  const d = error.details || {};
  switch (error.code) {
    case "insufficient_credits":
      return { text: `${error.message} Top up to continue.`, link: d.top_up_url ? { href: d.top_up_url, label: "Top up credits" } : null };
    case "rate_limited":
      return { text: `${error.message}${error.retryAfter ? ` Try again in about ${error.retryAfter} seconds.` : ""}` };
    case "track_too_long":
      return { text: `${error.message} Trim the track to 10 minutes or less (for example split it in two) and upload the parts.` };
    case "unauthorized":
      return { text: "Your session has ended. Log in again to continue.", link: { href: `/login?next=${encodeURIComponent(location.pathname)}`, label: "Log in" } };
    default:
      if (error.status === 413) return { text: `${error.message} Convert the file to MP3 or export it at a lower bitrate, then upload it again.` };
      return { text: error.message };
  }
}

// Put an explained error into an element (a <p role="alert">), link included.
export function showError(element, error) {
  if (!element) return;
  element.replaceChildren();
  if (!error) return;
  const { text, link } = explain(error);
  element.append(document.createTextNode(text));
  if (link) {
    element.append(" ");
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.label;
    element.append(a);
  }
}

export function formatDate(iso) {
  if (!iso) return "—";
  const d = new Date(iso.endsWith("Z") || iso.includes("+") ? iso : `${iso}Z`);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function formatSeconds(s) {
  if (s === null || s === undefined) return "—";
  const m = Math.floor(s / 60);
  const r = Math.floor(s % 60);
  return `${m}:${String(r).padStart(2, "0")}`;
}

function wireLogout() {
  for (const button of document.querySelectorAll('[data-action="logout"]')) {
    button.addEventListener("click", async () => {
      try { await api("/api/auth/logout", { method: "POST" }); } catch (err) { /* leaving anyway */ }
      location.assign("/");
    });
  }
}

wireLogout();

// What a running job is doing, in words (jobs/stages.py names the stages).
const STAGE_WORDS = {
  decoding: "Decoding the audio",
  recognising: "Recognising words",
  separating: "Separating vocals",
  retrying: "Retrying in music mode",
  postprocessing: "Post-processing",
};
export function stageText(job) {
  if (job.status !== "processing") return "";
  const words = STAGE_WORDS[job.stage] || "";
  // The automatic retry: the standard attempt was poor, music mode runs now.
  if (job.retrying && job.stage !== "retrying") return `Retrying in music mode · ${words || "starting"}`;
  return words;
}

// Follow a server-sent events stream; `handlers` maps event names to functions of the
// parsed data. Falls back to `fallback()` (polling) when the stream cannot be opened
// or is refused (EventSource then closes for good). A stream the server ends after a
// while is reopened by EventSource itself.
export function followEvents(url, handlers, fallback) {
  if (!("EventSource" in window)) { fallback(); return null; }
  const source = new EventSource(url, { withCredentials: true });
  let opened = false;
  source.addEventListener("open", () => { opened = true; });
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (e) => {
      let data = null;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      handle(data, source);
    });
  }
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED || !opened) {
      source.close();
      fallback();
    }
  });
  return source;
}
