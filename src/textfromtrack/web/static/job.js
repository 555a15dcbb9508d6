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
    lastSegments = data.segments;
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
      // "why": the decision taken on it (e.g. music detected, so retried in music mode).
      const why = entry.why ? `; ${entry.why}` : "";
      stageLine.textContent = `Attempt ${entry.attempt} (${entry.pipeline}) finished: ${verdict}${why}`;
    },
    end: (_job, source) => { source.close(); location.reload(); },
  }, poll);
}

const retry = document.getElementById("retry-music");
if (retry) {
  retry.addEventListener("click", async () => {
    // Said before it runs: what it costs and what it drops.
    const drops = retry.dataset.pinyin === "true" ? " The new transcript has no pinyin (music mode cannot add it)." : "";
    if (!window.confirm(`Retry in music mode? It is a new transcription and costs 1 credit.${drops}`)) return;
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

// ------------------------------------------------------------------ editing
// A draft of the lines ({start, end, text}); saved as a new revision with PATCH, the
// server checks it again (ordered, not overlapping, within the track).
const editToggle = document.getElementById("edit-toggle");
const editSave = document.getElementById("edit-save");
const editCancel = document.getElementById("edit-cancel");
const editUndo = document.getElementById("edit-undo");
const editState = document.getElementById("edit-state");
const editHint = document.getElementById("edit-hint");
const editError = document.getElementById("edit-error");
let draft = null;
let lastSegments = [];

const round = (t) => Math.round(t * 1000) / 1000;
const han = /[\u3400-\u9fff]$/;

function setEditing(on) {
  editToggle.hidden = on;
  editSave.hidden = !on;
  editCancel.hidden = !on;
  editHint.hidden = !on;
  showError(editError, null);
  if (on) {
    draft = lastSegments.map((s) => ({ start: s.start, end: s.end, text: s.text }));
    renderDraft();
  } else {
    draft = null;
    renderSegments(lastSegments);
  }
}

function button(label, action, n, title) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "button secondary small";
  b.textContent = label;
  b.dataset.action = action;
  b.dataset.n = String(n);
  if (title) b.setAttribute("aria-label", title);
  return b;
}

function timeField(n, which, value) {
  const label = document.createElement("label");
  label.className = "edit-time";
  label.append(which === "start" ? "Start " : "End ");
  const input = document.createElement("input");
  input.type = "number";
  input.step = "0.05";
  input.min = "0";
  input.inputMode = "decimal";
  input.value = String(value);
  input.dataset.field = which;
  input.dataset.n = String(n);
  input.setAttribute("aria-label", `Line ${n + 1} ${which} in seconds`);
  label.append(input);
  return label;
}

function renderDraft(focus) {
  rows = [];
  current = null;
  const items = draft.map((seg, n) => {
    const li = document.createElement("li");
    li.className = "line editing";
    li.dataset.n = String(n);
    const times = document.createElement("div");
    times.className = "edit-times";
    times.append(timeField(n, "start", seg.start));
    if (player) times.append(button("Now", "now-start", n, `Set line ${n + 1} start to the player's time`));
    times.append(timeField(n, "end", seg.end));
    if (player) times.append(button("Now", "now-end", n, `Set line ${n + 1} end to the player's time`));
    const text = document.createElement("input");
    text.className = "edit-text";
    text.value = seg.text;
    text.dataset.field = "text";
    text.dataset.n = String(n);
    text.setAttribute("aria-label", `Line ${n + 1} text`);
    const actions = document.createElement("div");
    actions.className = "edit-actions";
    actions.append(button("Split at cursor", "split", n, `Split line ${n + 1} at the cursor`));
    if (n + 1 < draft.length) actions.append(button("Merge with next", "merge", n, `Merge line ${n + 1} with line ${n + 2}`));
    actions.append(button("Delete", "delete", n, `Delete line ${n + 1}`));
    li.append(times, text, actions);
    return li;
  });
  lines.replaceChildren(...items);
  linesState.textContent = draft.length ? "" : "Every line was deleted: add none back by cancelling, or save at least one line.";
  if (focus) {
    const el = lines.querySelector(`[data-n="${focus.n}"][data-field="${focus.field}"]`);
    if (el) el.focus();
  }
}

lines.addEventListener("input", (e) => {
  if (!draft) return;
  const el = e.target;
  const n = Number(el.dataset.n);
  if (!draft[n] || !el.dataset.field) return;
  if (el.dataset.field === "text") draft[n].text = el.value;
  else if (el.value !== "") draft[n][el.dataset.field] = round(Number(el.value));
  el.removeAttribute("aria-invalid");
});

lines.addEventListener("click", (e) => {
  if (!draft) return;
  const b = e.target.closest("button[data-action]");
  if (!b) return;
  const n = Number(b.dataset.n);
  const seg = draft[n];
  const action = b.dataset.action;
  if (action === "now-start" || action === "now-end") {
    const field = action === "now-start" ? "start" : "end";
    seg[field] = round(player.currentTime);
    lines.querySelector(`input[data-n="${n}"][data-field="${field}"]`).value = String(seg[field]);
    return;
  }
  if (action === "split") {
    const input = lines.querySelector(`input[data-n="${n}"][data-field="text"]`);
    const at = input.selectionStart ?? Math.floor(seg.text.length / 2);
    const left = seg.text.slice(0, at).trim();
    const right = seg.text.slice(at).trim();
    if (!left || !right) { editState.textContent = "Put the cursor inside the line's text where it should be split."; return; }
    // The split time: the player's, when it is inside the line; else by the text's length.
    const t = player && player.currentTime > seg.start && player.currentTime < seg.end
      ? player.currentTime : seg.start + (seg.end - seg.start) * (at / seg.text.length);
    draft.splice(n, 1, { start: seg.start, end: round(t), text: left }, { start: round(t), end: seg.end, text: right });
    renderDraft({ n: n + 1, field: "text" });
  } else if (action === "merge" && draft[n + 1]) {
    const next = draft[n + 1];
    const joiner = han.test(seg.text) ? "" : " ";
    draft.splice(n, 2, { start: seg.start, end: next.end, text: `${seg.text}${joiner}${next.text}`.trim() });
    renderDraft({ n, field: "text" });
  } else if (action === "delete") {
    draft.splice(n, 1);
    renderDraft();
  }
});

function markInvalid(fields) {
  for (const key of Object.keys(fields || {})) {
    const [, n, field] = key.split(".");
    const el = lines.querySelector(`[data-n="${n}"][data-field="${field}"]`);
    if (el) el.setAttribute("aria-invalid", "true");
  }
}

function showRevision(revision) {
  editUndo.hidden = !revision;
  editState.textContent = revision ? `Edited (revision ${revision}); downloads use your edits.` : "The machine's original lines.";
}

if (editToggle) {
  editToggle.addEventListener("click", () => setEditing(true));
  editCancel.addEventListener("click", () => setEditing(false));
  editSave.addEventListener("click", async () => {
    showError(editError, null);
    editSave.disabled = true;
    try {
      const data = await api(`/api/web/jobs/${encodeURIComponent(jobId)}/segments`, { method: "PATCH", json: { segments: draft } });
      lastSegments = data.segments;
      setEditing(false);
      showRevision(data.revision);
    } catch (error) {
      showError(editError, error);
      markInvalid(error.details && error.details.fields);
    } finally {
      editSave.disabled = false;
    }
  });
  editUndo.addEventListener("click", async () => {
    if (!window.confirm("Undo every edit and go back to the machine's original lines?")) return;
    showError(editError, null);
    try {
      const data = await api(`/api/web/jobs/${encodeURIComponent(jobId)}/segments/edits`, { method: "DELETE" });
      lastSegments = data.segments;
      setEditing(false);
      showRevision(data.revision);
    } catch (error) {
      showError(editError, error);
    }
  });
}
