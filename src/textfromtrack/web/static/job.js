// The transcript page: follow the job, show its lines, karaoke-highlight them with the player.
import { api, showError, stageText, followEvents } from "./common.js";

const root = document.getElementById("job");
const jobId = root.dataset.jobId;
const status = root.dataset.status;
const lines = document.getElementById("lines");
const linesState = document.getElementById("lines-state");
const player = document.getElementById("player");
const actionError = document.getElementById("action-error");
const statusText = document.getElementById("job-status");

let rows = []; // [{start, end, element, words: [{start, end, element}]}]

function renderSegments(segments) {
  rows = segments.map((seg) => {
    const li = document.createElement("li");
    li.className = "line";
    li.tabIndex = 0;
    li.dataset.start = String(seg.start);
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = `${Math.floor(seg.start / 60)}:${String(Math.floor(seg.start % 60)).padStart(2, "0")}`;
    const text = document.createElement("span");
    text.className = "text";
    // The pieces join to exactly the exported line (pinyin included); timed pieces
    // are the words the player highlights.
    const words = [];
    for (const piece of seg.pieces || [{ text: seg.text }]) {
      if (piece.start === null || piece.start === undefined) {
        text.append(document.createTextNode(piece.text));
        continue;
      }
      const span = document.createElement("span");
      span.className = "word";
      span.textContent = piece.text;
      text.append(span);
      words.push({ start: piece.start, end: piece.end, element: span });
    }
    li.append(time, text);
    return { start: seg.start, end: seg.end, element: li, words };
  });
  lines.replaceChildren(...rows.map((r) => r.element));
  linesState.textContent = rows.length ? "" : "No words were recognised in this recording.";
}

function seek(row) {
  if (!player) return;
  player.currentTime = row.start;
  player.play().catch(() => {});
}

lines.addEventListener("click", (e) => {
  const li = e.target.closest("li.line");
  const row = rows.find((r) => r.element === li);
  if (row) seek(row);
});
lines.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" && e.key !== " ") return;
  const row = rows.find((r) => r.element === e.target);
  if (row) { e.preventDefault(); seek(row); }
});

let current = null;
function highlight() {
  const t = player.currentTime;
  const row = rows.find((r) => t >= r.start && t < r.end) || null;
  if (row !== current) {
    if (current) current.element.classList.remove("active");
    if (row) {
      row.element.classList.add("active");
      row.element.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
    current = row;
  }
  for (const r of rows) {
    for (const w of r.words) w.element.classList.toggle("sung", r === row && t >= w.start);
  }
}

function tick() {
  highlight();
  if (player && !player.paused) requestAnimationFrame(tick);
}
if (player) {
  player.addEventListener("play", () => requestAnimationFrame(tick));
  player.addEventListener("seeked", highlight);
  player.addEventListener("timeupdate", highlight);
}

async function loadSegments() {
  try {
    const data = await api(`/api/web/jobs/${encodeURIComponent(jobId)}/segments`);
    renderSegments(data.segments);
  } catch (error) {
    linesState.replaceChildren();
    showError(linesState, error);
  }
}

const stageLine = document.getElementById("job-stage");
const attemptsFact = document.getElementById("fact-attempts");

function showLive(job) {
  const pct = Math.round((job.progress || 0) * 100);
  statusText.textContent = job.status === "processing" ? `processing · ${pct}%` : job.status;
  stageLine.textContent = stageText(job);
  attemptsFact.textContent = String(job.attempts);
}

// A job still running: live events (status, stage, each attempt) until it ends, then
// a reload shows its facts and player. Without a stream, a 2 s poll does the same.
async function poll() {
  try {
    const job = await api(`/api/web/jobs/${encodeURIComponent(jobId)}`);
    if (job.status !== status && job.status !== "processing") { location.reload(); return; }
    showLive(job);
  } catch (error) {
    showError(actionError, error);
  }
  setTimeout(poll, 2000);
}

function follow() {
  followEvents(`/api/web/jobs/${encodeURIComponent(jobId)}/events`, {
    status: showLive,
    attempt: (entry) => {
      const verdict = entry.verdict === "poor" ? "poor result" : "passed the quality check";
      stageLine.textContent = `Attempt ${entry.attempt} (${entry.pipeline}) finished: ${verdict}`;
    },
    end: (_job, source) => { source.close(); location.reload(); },
  }, poll);
}

const retry = document.getElementById("retry-music");
if (retry) {
  retry.addEventListener("click", async () => {
    showError(actionError, null);
    retry.disabled = true;
    try {
      const job = await api(`/api/web/jobs/${encodeURIComponent(jobId)}/retry-music`, { method: "POST" });
      location.assign(`/app/jobs/${encodeURIComponent(job.job_id)}`);
    } catch (error) {
      showError(actionError, error);
      retry.disabled = false;
    }
  });
}

const cancel = document.getElementById("cancel-job");
if (cancel) {
  cancel.addEventListener("click", async () => {
    const question = status === "done"
      ? "Delete this transcript and its files? The credit is not refunded."
      : "Cancel this job?";
    if (!window.confirm(question)) return;
    try {
      await api(`/api/web/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" });
      location.reload();
    } catch (error) {
      showError(actionError, error);
    }
  });
}

if (status === "done") loadSegments();
else if (status === "pending" || status === "processing") follow();
