#!/usr/bin/env node
// Turn an audio file into synced lyrics with the TextFromTrack API.
//
//   TFT_TOKEN=tft_pat_... node get_lyrics.mjs track.mp3 [format]    # writes track.lrc
//
// Node.js 18+ only: the built-in fetch, FormData and Blob, no npm packages.
// TFT_BASE_URL picks the server (default http://127.0.0.1:8000/api/v1);
// TFT_POLL_INTERVAL (seconds, default 2) and TFT_TIMEOUT (seconds, default 900) tune polling.
// The file is written to the current folder. Also importable: getLyrics(path, format).

import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

const TOKEN = process.env.TFT_TOKEN;
const BASE = (process.env.TFT_BASE_URL || "http://127.0.0.1:8000/api/v1").replace(/\/+$/, "");
const HDR = { Authorization: `Bearer ${TOKEN}` };
const POLL_MS = Number(process.env.TFT_POLL_INTERVAL || 2) * 1000;
const TIMEOUT_MS = Number(process.env.TFT_TIMEOUT || 900) * 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** An error answer of the API, from its {"error": {code, message, details}} envelope. */
export class ApiError extends Error {
  constructor(status, error) {
    super(`${error?.code ?? `http_${status}`}: ${error?.message ?? `HTTP ${status}`}`);
    this.status = status;
    this.code = error?.code ?? `http_${status}`;
    this.details = error?.details ?? {};
  }
}

async function api(pathname, init = {}) {
  const res = await fetch(`${BASE}${pathname}`, { ...init, headers: { ...HDR, ...init.headers } });
  if (!res.ok) {
    const body = await res.json().catch(() => null); // a proxy's page is not our envelope
    throw new ApiError(res.status, body?.error);
  }
  return res;
}

export async function getLyrics(filePath, format = "lrc") {
  // 1 — Submit. The whole file goes in a Blob: Node's FormData takes no streams.
  const fd = new FormData();
  fd.append("file", new Blob([await readFile(filePath)]), path.basename(filePath));
  const sub = await api("/transcriptions", { method: "POST", body: fd }).then((r) => r.json());
  console.error(`Submitted — ${sub.job_id}`);

  // 2 — Poll until done, error, or the timeout.
  const deadline = Date.now() + TIMEOUT_MS;
  let job;
  for (;;) {
    job = await api(`/transcriptions/${sub.job_id}`).then((r) => r.json());
    console.error(` → ${job.status}`);
    if (job.status === "done") break;
    if (job.status === "error" || job.status === "cancelled") {
      throw new Error(`job ${job.job_id} ended ${job.status}: ${job.error ?? "no reason given"}`);
    }
    if (Date.now() >= deadline) {
      throw new Error(`job ${job.job_id} still ${job.status} after ${TIMEOUT_MS / 1000} s`);
    }
    await sleep(POLL_MS);
  }
  if (job.attempts >= 2 && job.vocal_separation_used) {
    console.error("   (retried with vocal separation: the first transcript looked poor)");
  }

  // 3 — Download the export.
  const res = await api(`/transcriptions/${sub.job_id}/export?format=${encodeURIComponent(format)}`);
  return res.text();
}

async function main() {
  const [filePath, format = "lrc"] = process.argv.slice(2);
  if (!filePath) {
    console.error("usage: node get_lyrics.mjs FILE [txt|srt|lrc|json|vtt]");
    return 2;
  }
  if (!TOKEN) {
    console.error("error: set TFT_TOKEN to your API token (tft_pat_...)");
    return 3;
  }
  try {
    const text = await getLyrics(filePath, format);
    const target = `${path.parse(filePath).name}.${format}`;
    await writeFile(target, text);
    console.log(target);
    return 0;
  } catch (err) {
    let hint = err.cause?.message ? ` (${err.cause.message})` : ""; // fetch's "fetch failed"
    if (err instanceof ApiError && err.details.top_up_url) hint = ` Top up at ${err.details.top_up_url}`;
    console.error(`error: ${err.message}${hint}`);
    return 1;
  }
}

// Run only as a script, not when imported.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await main();
}
