// The main page: upload files with options, and the job list that follows them live.
import { api, upload, showError, formatDate, formatSeconds, stageText, followEvents } from "./common.js";

const form = document.getElementById("upload-form");
const input = document.getElementById("file");
const dropzone = document.getElementById("dropzone");
const picked = document.getElementById("picked");
const fileError = document.getElementById("file-error");
const optionsError = document.getElementById("options-error");
const uploadError = document.getElementById("upload-error");
const vintage = document.getElementById("vintage");
const pinyin = document.getElementById("pinyin");
const keepAudio = document.getElementById("keep_audio");
const language = document.getElementById("language");
const button = document.getElementById("upload-button");
const uploadProgress = document.getElementById("upload-progress");
const list = document.getElementById("jobs");
const empty = document.getElementById("jobs-empty");
const filter = document.getElementById("status-filter");
const prev = document.getElementById("prev-page");
const next = document.getElementById("next-page");
const pageInfo = document.getElementById("page-info");
const pager = document.getElementById("pager");
const chineseScript = document.getElementById("chinese_script");
const balance = document.getElementById("balance");
const hasLyrics = document.getElementById("has_lyrics");
const lyricsField = document.getElementById("lyrics-field");
const lyrics = document.getElementById("lyrics");
const lyricsError = document.getElementById("lyrics-error");
const MAX_LYRICS = 20000;

const MAX_BYTES = 100 * 1024 * 1024;
let files = [];
let page = 1;
const perPage = 10;
let timer = null;
let stream = null;

const STATUS_WORDS = { pending: "Waiting", processing: "Transcribing", done: "Done", error: "Failed", cancelled: "Cancelled" };

function setFiles(list) {
  files = Array.from(list);
  picked.replaceChildren(...files.map((f) => {
    const li = document.createElement("li");
    li.textContent = `${f.name} (${(f.size / 1048576).toFixed(1)} MB)`;
    return li;
  }));
  fileError.textContent = "";
}

input.addEventListener("change", () => setFiles(input.files));
for (const type of ["dragenter", "dragover"]) {
  dropzone.addEventListener(type, (e) => { e.preventDefault(); dropzone.classList.add("over"); });
}
for (const type of ["dragleave", "drop"]) {
  dropzone.addEventListener(type, (e) => { e.preventDefault(); dropzone.classList.remove("over"); });
}
dropzone.addEventListener("drop", (e) => { if (e.dataTransfer && e.dataTransfer.files.length) setFiles(e.dataTransfer.files); });

// Music mode and pinyin cannot be combined (the API refuses it); say so before sending.
function checkOptions() {
  optionsError.textContent = vintage.checked && pinyin.checked
    ? "Music mode and pinyin cannot be used together: untick one of them." : "";
  return !optionsError.textContent;
}
vintage.addEventListener("change", checkOptions);
pinyin.addEventListener("change", checkOptions);

// "I have the lyrics": the words the transcript keeps, timed to the audio.
hasLyrics.addEventListener("change", () => {
  lyricsField.hidden = !hasLyrics.checked;
  lyricsError.textContent = "";
  if (hasLyrics.checked) lyrics.focus();
});

function checkLyrics() {
  lyricsError.textContent = "";
  if (!hasLyrics.checked) return true;
  // The server counts a line break once, as this does (a browser sends CRLF).
  if (!lyrics.value.trim()) lyricsError.textContent = "Paste the lyrics, or untick \u201cI have the lyrics\u201d.";
  else if (lyrics.value.replace(/\r\n?/g, "\n").length > MAX_LYRICS) lyricsError.textContent = `The lyrics are longer than ${MAX_LYRICS.toLocaleString()} characters.`;
  return !lyricsError.textContent;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(uploadError, null);
  if (!files.length) {
    fileError.textContent = "Choose at least one audio file first.";
    input.focus();
    return;
  }
  const tooBig = files.find((f) => f.size > MAX_BYTES);
  if (tooBig) {
    fileError.textContent = `${tooBig.name} is larger than 100 MB. Convert it to MP3 or export it at a lower bitrate.`;
    return;
  }
  if (!checkOptions()) { vintage.focus(); return; }
  if (!checkLyrics()) { lyrics.focus(); return; }
  button.disabled = true;
  const failed = [];
  for (const file of files) {
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("vintage", vintage.checked ? "true" : "false");
    body.append("pinyin", pinyin.checked ? "true" : "false");
    body.append("keep_audio", keepAudio.checked ? "true" : "false");
    if (language.value) body.append("language", language.value);
    body.append("chinese_script", chineseScript.value);
    if (hasLyrics.checked) body.append("lyrics", lyrics.value);
    button.textContent = `Uploading ${file.name}…`;
    uploadProgress.hidden = false;
    uploadProgress.value = 0;
    uploadProgress.setAttribute("aria-label", `Uploading ${file.name}`);
    try {
      await upload("/api/web/jobs", body, (fraction) => { uploadProgress.value = fraction; });
    } catch (error) {
      failed.push(file);
      const p = document.createElement("p");
      showError(p, error);
      const line = document.createElement("span");
      line.textContent = `${file.name}: `;
      uploadError.append(line, ...p.childNodes, document.createElement("br"));
      if (error.code === "insufficient_credits" || error.code === "unauthorized") break;
    }
  }
  button.disabled = false;
  button.textContent = "Transcribe";
  uploadProgress.hidden = true;
  setFiles(failed);
  if (!failed.length) input.value = "";
  page = 1;
  await Promise.all([refresh(), refreshBalance()]);
});

async function refreshBalance() {
  try {
    const account = await api("/api/web/account");
    balance.textContent = String(account.credit_balance);
  } catch (error) { /* the balance is a courtesy; the upload's own errors say more */ }
}

function jobItem(job) {
  const li = document.createElement("li");
  li.className = `job job-${job.status}`;
  li.dataset.jobId = job.job_id;
  const title = document.createElement("a");
  title.className = "job-title";
  title.href = `/app/jobs/${encodeURIComponent(job.job_id)}`;
  title.textContent = job.filename;
  const status = document.createElement("span");
  status.className = `status status-${job.status}`;
  status.textContent = STATUS_WORDS[job.status] || job.status;
  const meta = document.createElement("span");
  meta.className = "muted small";
  const bits = [formatDate(job.created_at), formatSeconds(job.duration_seconds)];
  if (job.vintage_mode) bits.push("music mode");
  if (job.attempts > 1 && job.vocal_separation_used) bits.push("retried with vocal separation");
  if (job.language) bits.push(job.language);
  meta.textContent = bits.join(" · ");
  li.append(title, status, meta);
  const stage = stageText(job);
  if (stage) {
    const what = document.createElement("span");
    what.className = "small stage";
    what.textContent = stage;
    li.append(what);
  }
  if (job.status === "processing" || job.status === "pending") {
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = job.progress || 0;
    bar.setAttribute("aria-label", `Progress of ${job.filename}`);
    li.append(bar);
  }
  if (job.status === "error" && job.error) {
    const err = document.createElement("span");
    err.className = "small error-text";
    err.textContent = job.error;
    li.append(err);
  }
  return li;
}

async function refresh() {
  clearTimeout(timer);
  const params = new URLSearchParams({ page: String(page), per_page: String(perPage) });
  if (filter.value) params.set("status", filter.value);
  try {
    const data = await api(`/api/web/jobs?${params}`);
    list.replaceChildren(...data.jobs.map(jobItem));
    list.setAttribute("aria-busy", "false");
    empty.hidden = data.total > 0;
    const pages = Math.max(1, Math.ceil(data.total / perPage));
    pageInfo.textContent = `Page ${page} of ${pages}`;
    prev.disabled = page <= 1;
    next.disabled = page >= pages;
    // One page (or none): no pager to read past.
    pager.hidden = pages <= 1 && page <= 1;
    // Follow only while something is still moving: live events, else a 2 s poll.
    if (data.active > 0) follow();
  } catch (error) {
    showError(uploadError, error);
    timer = setTimeout(refresh, 10000);
  }
}

// Live events for the active jobs: each change updates its item in place; a job that
// ends (or a stream that goes idle) reloads the page of the list.
function follow() {
  if (stream) return;
  stream = followEvents("/api/web/jobs/events", {
    job: (job) => {
      const old = list.querySelector(`li[data-job-id="${CSS.escape(job.job_id)}"]`);
      if (["done", "error", "cancelled"].includes(job.status)) { refresh(); refreshBalance(); return; }
      if (old) old.replaceWith(jobItem(job));
    },
    idle: (_data, source) => { source.close(); stream = null; refresh(); },
  }, () => { stream = null; timer = setTimeout(refresh, 2000); });
}

filter.addEventListener("change", () => { page = 1; refresh(); });
prev.addEventListener("click", () => { if (page > 1) { page -= 1; refresh(); } });
next.addEventListener("click", () => { page += 1; refresh(); });

refresh();
