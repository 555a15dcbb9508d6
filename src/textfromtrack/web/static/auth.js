// Log-in and sign-up forms: JSON to /api/auth, errors next to the fields.
import { api, showError } from "./common.js";

const form = document.getElementById("auth-form");
const mode = form.dataset.mode;
const next = form.dataset.next || "/app";
const email = document.getElementById("email");
const password = document.getElementById("password");
const emailError = document.getElementById("email-error");
const passwordError = document.getElementById("password-error");
const formError = document.getElementById("form-error");

function fieldError(input, element, text) {
  element.textContent = text || "";
  input.setAttribute("aria-invalid", text ? "true" : "false");
}

function validate() {
  let ok = true;
  fieldError(email, emailError, "");
  fieldError(password, passwordError, "");
  if (!email.value.trim() || !email.value.includes("@")) {
    fieldError(email, emailError, "Enter your email address, like name@example.com.");
    ok = false;
  }
  if (!password.value) {
    fieldError(password, passwordError, "Enter your password.");
    ok = false;
  } else if (mode === "signup" && password.value.length < Number(password.minLength)) {
    fieldError(password, passwordError, `Use at least ${password.minLength} characters.`);
    ok = false;
  }
  return ok;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(formError, null);
  if (!validate()) {
    (emailError.textContent ? email : password).focus();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  const credentials = { email: email.value.trim(), password: password.value };
  try {
    if (mode === "signup") await api("/api/auth/register", { method: "POST", json: credentials });
    await api("/api/auth/login", { method: "POST", json: credentials });
    location.assign(next);
  } catch (error) {
    const fields = (error.details && error.details.fields) || {};
    if (fields.email) fieldError(email, emailError, error.message);
    else if (fields.password) fieldError(password, passwordError, error.message);
    else showError(formError, error.code === "unauthorized" ? { message: error.message, details: {} } : error);
    button.disabled = false;
  }
});
