// The main page: upload files with options, and the job list that follows them live.
import { api, upload, showError, formatDate, formatSeconds } from "./common.js";

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

const MAX_BYTES = 100 * 1024 * 1024;
let files = [];
let page = 1;
const perPage = 10;
let timer = null;

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
  button.disabled = true;
  const failed = [];
  for (const file of files) {
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("vintage", vintage.checked ? "true" : "false");
    body.append("pinyin", pinyin.checked ? "true" : "false");
    body.append("keep_audio", keepAudio.checked ? "true" : "false");
    if (language.value) body.append("language", language.value);
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
  await refresh();
});

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
    // Poll only while something is still moving.
    if (data.active > 0) timer = setTimeout(refresh, 2000);
  } catch (error) {
    showError(uploadError, error);
    timer = setTimeout(refresh, 10000);
  }
}

filter.addEventListener("change", () => { page = 1; refresh(); });
prev.addEventListener("click", () => { if (page > 1) { page -= 1; refresh(); } });
next.addEventListener("click", () => { page += 1; refresh(); });

refresh();
