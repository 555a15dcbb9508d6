#!/usr/bin/env bash
# The API's full lifecycle with curl: check credits, submit, poll, download every format.
#
#   TFT_TOKEN=tft_pat_... ./quickstart.sh song.mp3                # writes song.{txt,srt,lrc,json}
#   TFT_TOKEN=tft_pat_... ./quickstart.sh song.mp3 pinyin=true    # extra form fields: pinyin,
#                                                                 # vintage, language
#
# Needs bash, curl and jq. Environment:
#   TFT_TOKEN          required, a personal access token (Account > API tokens)
#   TFT_BASE_URL       default http://127.0.0.1:8000/api/v1
#   TFT_TIMEOUT        seconds to wait for the job, default 900
#   TFT_POLL_INTERVAL  seconds between polls, default 2
# Files are written to the current folder. Exits non-zero with the API's error message
# on any failure.
set -euo pipefail

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "quickstart.sh needs $tool on PATH" >&2; exit 1; }
done
: "${TFT_TOKEN:?set TFT_TOKEN to your API token (tft_pat_...)}"
BASE="${TFT_BASE_URL:-http://127.0.0.1:8000/api/v1}"
BASE="${BASE%/}"
TIMEOUT="${TFT_TIMEOUT:-900}"
POLL="${TFT_POLL_INTERVAL:-2}"

FILE="$1"
shift
[[ -f $FILE ]] || { echo "no such file: $FILE" >&2; exit 1; }
STEM="$(basename "$FILE")"
STEM="${STEM%.*}"

# api OUTFILE METHOD PATH [curl args...]: the body goes to OUTFILE only on success;
# otherwise the API's error envelope is printed as one line and the script stops.
api() {
  local out=$1 method=$2 path=$3
  shift 3
  local body status
  body="$(mktemp)"
  status="$(curl -sS -o "$body" -w '%{http_code}' -X "$method" \
    -H "Authorization: Bearer $TFT_TOKEN" "$@" "$BASE$path")" || {
    rm -f "$body"
    echo "error: could not reach $BASE" >&2
    exit 1
  }
  if [[ $status != 2* ]]; then
    echo "error: HTTP $status $(jq -r '"\(.error.code): \(.error.message)"' <"$body" 2>/dev/null \
      || head -c 200 "$body")" >&2
    rm -f "$body"
    exit 1
  fi
  # cat rather than mv: the temporary file is private (0600), the result need not be.
  cat "$body" >"$out"
  rm -f "$body"
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# 1. Check the credit balance.
api "$WORK/me.json" GET /me
echo "credit balance: $(jq .credit_balance "$WORK/me.json")"

# 2. Submit, with any extra form fields given on the command line.
FIELDS=()
for field in "$@"; do
  FIELDS+=(-F "$field")
done
api "$WORK/submit.json" POST /transcriptions -F "file=@$FILE" "${FIELDS[@]+"${FIELDS[@]}"}"
JOB="$(jq -r .job_id "$WORK/submit.json")"
echo "job_id: $JOB"

# 3. Poll until done.
START=$SECONDS
while true; do
  api "$WORK/job.json" GET "/transcriptions/$JOB"
  STATUS="$(jq -r .status "$WORK/job.json")"
  echo "  $STATUS"
  [[ $STATUS == done ]] && break
  if [[ $STATUS == error || $STATUS == cancelled ]]; then
    echo "error: job $JOB ended $STATUS: $(jq -r '.error // "no reason given"' "$WORK/job.json")" >&2
    exit 1
  fi
  if ((SECONDS - START >= TIMEOUT)); then
    echo "error: job $JOB still $STATUS after ${TIMEOUT}s; it keeps running on the server" >&2
    exit 1
  fi
  sleep "$POLL"
done
jq -r '"language \(.language), \(.segment_count) segments, model \(.model), attempts \(.attempts)"' \
  "$WORK/job.json"

# 4. Download all four formats of the spec.
for FMT in txt srt lrc json; do
  api "$STEM.$FMT" GET "/transcriptions/$JOB/export?format=$FMT"
  echo "$STEM.$FMT ✓"
done
