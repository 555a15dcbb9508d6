// Account page: API tokens (generate, shown once, copy, list, revoke).
import { api, showError, formatDate } from "./common.js";

const form = document.getElementById("token-form");
const nameInput = document.getElementById("token-name");
const nameError = document.getElementById("token-name-error");
const scopesError = document.getElementById("token-scopes-error");
const tokenError = document.getElementById("token-error");
const expiry = document.getElementById("token-expiry");
const box = document.getElementById("new-token");
const value = document.getElementById("new-token-value");
const copy = document.getElementById("copy-token");
const copyState = document.getElementById("copy-state");
const tbody = document.getElementById("token-rows");
const empty = document.getElementById("tokens-empty");

function cell(text, className, label) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  // On a phone each row stacks, each value under its column's name (app.css).
  if (label) td.dataset.label = label;
  return td;
}

function row(token) {
  const tr = document.createElement("tr");
  tr.dataset.tokenId = token.id;
  const state = token.revoked ? " (revoked)" : token.expired ? " (expired)" : "";
  tr.append(
    cell(token.name + state, "token-name", "Name"),
    cell(`tft_pat_…${token.last_four}`, "mono", "Token"),
    cell(token.scopes.join(", "), "", "Scopes"),
    cell(formatDate(token.created_at), "", "Created"),
    cell(token.last_used_at ? formatDate(token.last_used_at) : "Never", "", "Last used"),
    cell(token.expires_at ? formatDate(token.expires_at) : "Never", "", "Expires"),
  );
  const actions = document.createElement("td");
  if (!token.revoked) {
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "button danger small";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", `Revoke token ${token.name}`);
    revoke.addEventListener("click", async () => {
      if (!window.confirm(`Revoke “${token.name}”? Scripts using it stop working at once.`)) return;
      try {
        await api(`/api/auth/tokens/${encodeURIComponent(token.id)}`, { method: "DELETE" });
        await load();
      } catch (error) {
        showError(tokenError, error);
      }
    });
    actions.append(revoke);
  }
  tr.append(actions);
  return tr;
}

async function load() {
  try {
    const tokens = await api("/api/auth/tokens");
    tbody.replaceChildren(...tokens.map(row));
    empty.hidden = tokens.length > 0;
  } catch (error) {
    showError(tokenError, error);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  nameError.textContent = "";
  scopesError.textContent = "";
  showError(tokenError, null);
  const name = nameInput.value.trim();
  const scopes = Array.from(form.querySelectorAll('input[name="scopes"]:checked')).map((i) => i.value);
  let ok = true;
  if (!name) { nameError.textContent = "Give the token a name so you can recognise it later."; ok = false; }
  if (!scopes.length) { scopesError.textContent = "Choose at least one scope."; ok = false; }
  if (!ok) { (name ? form.querySelector('input[name="scopes"]') : nameInput).focus(); return; }
  const body = { name, scopes };
  if (expiry.value) body.expires_in_days = Number(expiry.value);
  try {
    const created = await api("/api/auth/tokens", { method: "POST", json: body });
    value.value = created.token;
    box.hidden = false;
    copyState.textContent = "";
    value.focus();
    value.select();
    form.reset();
    await load();
  } catch (error) {
    showError(tokenError, error);
  }
});

copy.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(value.value);
    copyState.textContent = "Copied to the clipboard.";
  } catch (err) {
    value.select();
    copyState.textContent = "Press Ctrl+C (or ⌘C) to copy the selected token.";
  }
});

load();
