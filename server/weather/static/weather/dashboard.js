// The dashboard's behaviour: the temperature chart and the buttons that enqueue refreshes and
// follow them until they end. Everything goes through the same JSON API as any other client.
"use strict";

const POLL_MS = 1000;
const POLL_LIMIT = 120;
let chart = null;

// An error the user can act on by logging in: shown with a link to the login page.
class LoginNeeded extends Error {}

async function api(path, options = {}) {
  const headers = { "Accept": "application/json" };
  if (options.method === "POST") {
    // The session's changes need the CSRF token; a JSON body is what the API reads.
    headers["X-CSRFToken"] = document.querySelector('meta[name="csrf-token"]').content;
    headers["Content-Type"] = "application/json";
    options = { body: "{}", ...options };
  }
  const response = await fetch(path, { headers, credentials: "same-origin", ...options });
  let body = null;
  try { body = await response.json(); } catch (_) { /* an error page from a proxy */ }
  if (response.status === 401 || (response.status === 403 && document.body.dataset.signedIn !== "true")) {
    throw new LoginNeeded("Log in to do this: changes need a signed-in account.");
  }
  if (!response.ok) {
    throw new Error((body && body.message) || `HTTP ${response.status}`);
  }
  return body;
}

// The same "Nov 24, 02:00 UTC" form as the server-rendered page.
const TIME = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", hour: "2-digit",
                                                minute: "2-digit", hourCycle: "h23", timeZone: "UTC" });
const formatTime = (iso) => TIME.format(new Date(iso)) + " UTC";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function setStatus(element, text, kind = "") {
  element.textContent = text;
  element.className = `status ${kind}`;
}

function showError(element, error) {
  setStatus(element, error.message + " ", "failure");
  if (error instanceof LoginNeeded) {
    const link = document.createElement("a");
    link.href = document.body.dataset.loginUrl;
    link.textContent = "Log in";
    element.appendChild(link);
  }
}

async function drawChart(cityId, cityName) {
  const canvas = document.getElementById("temperature-chart");
  if (!canvas) return;
  const readings = (await api(`/api/cities/${cityId}/weather/?limit=96`)).reverse();
  document.getElementById("chart-city").textContent = cityName || "";
  document.getElementById("chart-empty").hidden = readings.length > 0;
  canvas.dataset.cityId = cityId;
  const labels = readings.map((r) => new Date(r.observed_at).toISOString().slice(5, 16).replace("T", " "));
  const values = readings.map((r) => r.temperature);
  if (chart) chart.destroy();
  chart = new Chart(canvas, {
    type: "line",
    data: { labels, datasets: [{ label: "°C", data: values, borderColor: "#1f6feb", tension: 0.25, pointRadius: 2 }] },
    options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } },
               scales: { y: { title: { display: true, text: "°C" } } } },
  });
}

async function followTask(statusUrl, statusElement) {
  for (let i = 0; i < POLL_LIMIT; i++) {
    const task = await api(statusUrl);
    if (task.state === "SUCCESS") return task;
    if (task.state === "FAILURE") throw new Error(task.error || "failed");
    setStatus(statusElement, task.state === "RETRY" ? "retrying…" : task.state.toLowerCase() + "…");
    await sleep(POLL_MS);
  }
  throw new Error("still running; see Flower");
}

async function refreshCity(button) {
  const row = button.closest("tr");
  const status = row.querySelector(".status");
  const cityId = button.dataset.cityId;
  button.disabled = true;
  try {
    setStatus(status, "queued…");
    const queued = await api(`/api/cities/${cityId}/refresh/`, { method: "POST" });
    await followTask(queued.status_url, status);
    const [latest] = await api(`/api/cities/${cityId}/weather/?limit=1`);
    if (latest) {
      row.querySelector(".temp").textContent = latest.temperature === null ? "—" : `${latest.temperature.toFixed(1)} °C`;
      row.querySelector(".observed").textContent = formatTime(latest.observed_at);
    }
    setStatus(status, "updated", "success");
    const canvas = document.getElementById("temperature-chart");
    if (canvas && canvas.dataset.cityId === cityId) await drawChart(cityId, document.getElementById("chart-city").textContent);
  } catch (error) {
    showError(status, error);
  } finally {
    button.disabled = false;
  }
}

async function refreshAll(button) {
  const status = document.getElementById("refresh-all-status");
  button.disabled = true;
  try {
    const queued = await api("/api/pipeline/refresh-all/", { method: "POST" });
    for (let i = 0; i < POLL_LIMIT * 5; i++) {
      const run = await api(queued.run_url);
      if (["success", "partial", "failure"].includes(run.state)) {
        setStatus(status, `Run ${run.id} ${run.state}: ${run.cities_ok} ok, ${run.cities_failed} failed.`,
                  run.state === "success" ? "success" : "failure");
        setTimeout(() => window.location.reload(), 1500);
        return;
      }
      setStatus(status, `Run ${run.id} ${run.state}… (${run.cities_total} cities)`);
      await sleep(POLL_MS);
    }
  } catch (error) {
    showError(status, error);
  } finally {
    button.disabled = false;
  }
}

async function checkReadiness() {
  const banner = document.getElementById("readiness");
  try {
    const response = await fetch("/readyz");
    const body = await response.json();
    if (response.ok) { banner.hidden = true; return; }
    const down = Object.entries(body.checks).filter(([, v]) => v !== "ok").map(([k]) => k);
    banner.textContent = `Not ready: the ${down.join(" and ")} cannot be reached. Refreshes will fail until it is back.`;
  } catch (_) {
    banner.textContent = "The server cannot be reached.";
  }
  banner.hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button.refresh-city").forEach((b) => b.addEventListener("click", () => refreshCity(b)));
  const all = document.getElementById("refresh-all");
  if (all) all.addEventListener("click", () => refreshAll(all));
  document.querySelectorAll("a.chart-link").forEach((a) => a.addEventListener("click", () => drawChart(a.dataset.cityId, a.dataset.cityName)));
  const canvas = document.getElementById("temperature-chart");
  if (canvas) drawChart(canvas.dataset.cityId, document.getElementById("chart-city").textContent).catch(() => {});
  checkReadiness();
  setInterval(checkReadiness, 15000);
});
