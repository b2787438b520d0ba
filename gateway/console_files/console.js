// The Browserplane console. Vanilla JS, no framework, no build step.
//
// Sessions come from the /api/sessions dialect, nodes, the queue and live-view links from
// /console/api/ (gateway/console.py); both take the key the operator entered, kept in this
// tab's sessionStorage and sent as a Bearer token. Everything shown that a page or a client
// wrote (titles, URLs, console text, action details) is set as text, never parsed as HTML.
"use strict";

const KEY = "browserplane.console.key";
const POLL_MS = 3000;
const LIVE_STATUSES = new Set(["creating", "pending", "queued", "running"]);
const $ = (id) => document.getElementById(id);

let whoami = null;   // {scope, project}
let pollTimer = null;
let sessionView = {id: "", tab: "", liveLoaded: false, recordingLoaded: false};

// ---- building the page without HTML parsing ------------------------------------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "onclick") node.addEventListener("click", value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node) { node.replaceChildren(); return node; }

function badge(status) {
  const known = ["running", "creating", "pending", "queued", "failed", "timed_out", "completed",
                 "cancelled", "terminated", "up", "down", "draining", "healthy", "error", "ok"];
  const value = String(status || "unknown");
  return el("span", {class: "badge " + (known.includes(value) ? value : "other"), text: value});
}

// A URL we may point an element at: the gateway's own (signed artifact URLs, the live view).
function ownUrl(value) {
  try {
    const url = new URL(String(value), location.href);
    if (url.origin !== location.origin) return null;
    return url.href;
  } catch (_) {
    return null;
  }
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function clock(seconds) {
  const s = Math.max(0, seconds);
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
}

function ms(value) {
  if (value === undefined || value === null || value === "") return "";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return n >= 10000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

function bytes(value) {
  const n = Number(value);
  if (!Number.isFinite(n) || value === null || value === undefined) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function showError(id, message) {
  const node = $(id);
  node.textContent = message || "";
  node.hidden = !message;
}

// ---- the API ---------------------------------------------------------------------------------

class ApiFailure extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function errorMessage(body, status) {
  if (body && typeof body === "object") {
    const err = body.error;
    if (err && typeof err === "object" && err.message) return String(err.message);
    if (body.message) return String(body.message);
    if (typeof err === "string") return err;
  }
  return `the gateway answered ${status}`;
}

async function api(path, method) {
  const key = sessionStorage.getItem(KEY) || "";
  let response;
  try {
    response = await fetch(path, {method: method || "GET", cache: "no-store",
      headers: {"Authorization": "Bearer " + key, "Accept": "application/json"}});
  } catch (err) {
    throw new ApiFailure(0, "the gateway did not answer: " + err.message);
  }
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (response.status === 401) {
    signOut("The key was refused: " + errorMessage(body, 401));
    throw new ApiFailure(401, errorMessage(body, 401));
  }
  if (!response.ok) throw new ApiFailure(response.status, errorMessage(body, response.status));
  return body || {};
}

// ---- sign in and out -------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const key = $("key").value.trim();
  showError("login-error", "");
  if (!key) return showError("login-error", "Enter an API key.");
  sessionStorage.setItem(KEY, key);
  try {
    whoami = await checkKey();
  } catch (err) {
    sessionStorage.removeItem(KEY);
    const text = err.status === 401
      ? "This key was refused: it is not a key of this Browserplane (unknown, revoked or expired)."
      : "Could not sign in: " + err.message;
    showError("login-error", text);
    return;
  }
  $("key").value = "";
  if (!location.hash || location.hash === "#/login") location.hash = "#/sessions";
  else route();
}

async function checkKey() {
  const key = sessionStorage.getItem(KEY) || "";
  const response = await fetch("/console/api/whoami", {cache: "no-store",
    headers: {"Authorization": "Bearer " + key, "Accept": "application/json"}});
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) throw new ApiFailure(response.status, errorMessage(body, response.status));
  return body;
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  whoami = null;
  stopPolling();
  show("login");
  showError("login-error", message || "");
}

// ---- views -----------------------------------------------------------------------------------

function show(view) {
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== "view-" + view;
  const signedIn = view !== "login";
  $("nav").hidden = !signedIn;
  $("who").hidden = !signedIn;
  $("logout").hidden = !signedIn;
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === view ||
                                    (view === "session" && link.dataset.view === "sessions"));
  }
  if (signedIn && whoami) {
    $("who").textContent = whoami.scope === "cluster"
      ? "Cluster secret: every project"
      : "Project " + (whoami.project.name || whoami.project.id);
  }
  if (view === "login") $("key").focus();
}

function stopPolling() {
  if (pollTimer !== null) clearInterval(pollTimer);
  pollTimer = null;
}

function poll(fn) {
  stopPolling();
  fn();
  pollTimer = setInterval(fn, POLL_MS);
}

async function route() {
  if (!sessionStorage.getItem(KEY)) return signOut("");
  if (!whoami) {
    try {
      whoami = await checkKey();
    } catch (err) {
      return signOut(err.status === 401 ? "The key was refused; sign in again." : err.message);
    }
  }
  const parts = (location.hash || "#/sessions").replace(/^#\/?/, "").split("/");
  const view = parts[0] || "sessions";
  if (view === "session" && parts[1]) {
    const id = decodeURIComponent(parts[1]);
    show("session");
    openSession(id, parts[2] || "");
  } else if (view === "nodes") {
    show("nodes");
    poll(loadNodes);
  } else if (view === "queue") {
    show("queue");
    poll(loadQueue);
  } else {
    show("sessions");
    poll(loadSessions);
  }
}

// ---- sessions --------------------------------------------------------------------------------

let sessionsCache = [];

async function loadSessions() {
  let answer;
  try {
    answer = await api("/api/sessions?limit=100&includeTerminated=true");
  } catch (err) {
    if (err.status !== 401) showError("sessions-error", "Could not list sessions: " + err.message);
    return;
  }
  showError("sessions-error", "");
  sessionsCache = Array.isArray(answer.sessions) ? answer.sessions : [];
  const total = Number(answer.total);
  $("sessions-note").textContent = Number.isFinite(total) && total > sessionsCache.length
    ? `the newest ${sessionsCache.length} of ${total}` : "";
  fillOptions($("filter-status"), ["creating", "running", "completed", "cancelled", "failed",
                                    ...sessionsCache.map((s) => s.status)], ["", "live", "ended"]);
  fillOptions($("filter-dialect"), ["grpc", ...sessionsCache.map((s) => s.dialect)], [""]);
  renderSessions();
}

function fillOptions(select, values, fixed) {
  const have = new Set([...select.options].map((o) => o.value));
  for (const value of [...new Set(values.filter((v) => typeof v === "string" && v))].sort()) {
    if (!have.has(value) && !fixed.includes(value)) select.append(el("option", {value, text: value}));
  }
}

function renderSessions() {
  const status = $("filter-status").value;
  const dialect = $("filter-dialect").value;
  const rows = sessionsCache.filter((s) => {
    const live = LIVE_STATUSES.has(s.status);
    if (status === "live" && !live) return false;
    if (status === "ended" && live) return false;
    if (status && status !== "live" && status !== "ended" && s.status !== status) return false;
    if (dialect && (s.dialect || "grpc") !== dialect) return false;
    return true;
  });
  const body = clear($("sessions-body"));
  for (const s of rows) {
    const id = String(s.sessionId || "");
    const link = "#/session/" + encodeURIComponent(id);
    const running = s.status === "running";
    body.append(el("tr", {dataset: {session: id}},
      el("td", {}, el("a", {href: link, class: "mono", text: id})),
      el("td", {}, badge(s.status)),
      el("td", {text: s.dialect || "grpc"}),
      el("td", {class: "pagecell"},
        el("div", {class: "title", text: s.title || ""}),
        el("div", {class: "url mono", text: s.currentUrl || ""})),
      el("td", {text: when(s.createdAt)}),
      el("td", {class: "actions"},
        running ? el("a", {class: "button small", href: link + "/live", text: "Live view"}) : null,
        el("a", {class: "button small ghost", href: link + "/" + (running ? "actions" : "recording"),
                 text: "Inspect"}),
        LIVE_STATUSES.has(s.status)
          ? el("button", {type: "button", class: "small danger", text: "End",
                          onclick: () => endSession(id)}) : null)));
  }
  $("sessions-empty").hidden = rows.length > 0;
}

function confirmEnd(id) {
  const dialog = $("confirm");
  $("confirm-text").textContent = `Session ${id} will be stopped and its browser closed. ` +
    "Its recording and artifacts are kept.";
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-ok").removeEventListener("click", ok);
      $("confirm-cancel").removeEventListener("click", cancel);
      dialog.removeEventListener("close", cancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const ok = () => done(true);
    const cancel = () => done(false);
    $("confirm-ok").addEventListener("click", ok);
    $("confirm-cancel").addEventListener("click", cancel);
    dialog.addEventListener("close", cancel);
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

async function endSession(id) {
  if (!(await confirmEnd(id))) return;
  try {
    await api("/api/sessions/" + encodeURIComponent(id), "DELETE");
  } catch (err) {
    const where = $("view-session").hidden ? "sessions-error" : "s-error";
    showError(where, `Could not end session ${id}: ${err.message}`);
    return;
  }
  if (!$("view-session").hidden) {
    sessionView.liveLoaded = false;
    location.hash = "#/session/" + encodeURIComponent(id) + "/recording";
  } else {
    loadSessions();
  }
}

// ---- one session: live view and inspector ----------------------------------------------------

function openSession(id, tab) {
  if (sessionView.id !== id) {
    sessionView = {id, tab: "", liveLoaded: false, recordingLoaded: false, details: null};
    $("s-title").textContent = id;
    clear($("s-facts"));
    $("s-status").replaceChildren();
    $("live-frame").hidden = true;
    $("live-frame").removeAttribute("src");
    $("rec-video").hidden = true;
    $("rec-video").removeAttribute("src");
    clear($("rec-timeline"));
    showError("s-error", "");
  }
  sessionView.tab = tab;
  poll(() => loadSession(id));
}

async function loadSession(id) {
  let s;
  try {
    s = await api("/api/sessions/" + encodeURIComponent(id));
  } catch (err) {
    if (err.status !== 401) showError("s-error", "Could not read the session: " + err.message);
    return;
  }
  if (sessionView.id !== id) return;
  sessionView.details = s;
  const live = LIVE_STATUSES.has(s.status);
  $("s-title").textContent = s.title ? `${s.title}` : id;
  $("s-status").replaceChildren(badge(s.status));
  $("s-end").hidden = !live;
  // Counts the node keeps while the browser runs; an ended session's are in its timeline.
  const facts = [["Session", id, "mono"], ["Dialect", s.dialect || "grpc"],
    ["Page", s.currentUrl, "mono"], ["Created", when(s.createdAt)], ["Ended", when(s.endedAt)],
    ["Duration", ms(s.duration)], ["Actions", live ? s.actionCount : null],
    ["Navigations", live ? s.navigationCount : null], ["Screenshots", s.screenshotCount],
    ["Node", s.machineId], ["Project", s.projectId], ["End reason", s.endReason]];
  clear($("s-facts"));
  for (const [label, value, cls] of facts) {
    if (value === undefined || value === null || value === "") continue;
    $("s-facts").append(el("div", {}, el("dt", {text: label}), el("dd", {class: cls, text: value})));
  }
  const tab = sessionView.tab || (s.status === "running" ? "live" : "recording");
  selectTab(tab);
  if (tab === "live") loadLive(id, s);
  else if (tab === "recording") loadRecording(id, live);
  else if (tab === "actions") loadActions(id);
  else if (tab === "console") loadConsole(id);
  else if (tab === "network") loadNetwork(id);
  else if (tab === "artifacts") loadArtifacts(id);
  // An ended session changes no more, except that its recording arrives a little after the end.
  if (!live && !(tab === "recording" && !sessionView.recordingLoaded && justEnded(s))) stopPolling();
}

function justEnded(s) {
  const ended = Date.parse(s.endedAt || "");
  return Number.isFinite(ended) && Date.now() - ended < 120000;
}

function selectTab(tab) {
  for (const button of document.querySelectorAll("#s-tabs button")) {
    button.classList.toggle("active", button.dataset.tab === tab);
  }
  for (const pane of document.querySelectorAll("#view-session .tab")) pane.hidden = pane.id !== "tab-" + tab;
}

function loadLive(id, s) {
  const frame = $("live-frame");
  if (s.status !== "running") {
    frame.hidden = true;
    frame.removeAttribute("src");
    $("s-live-open").hidden = true;
    sessionView.liveLoaded = false;
    $("live-note").textContent = LIVE_STATUSES.has(s.status)
      ? "The browser is starting; the live view opens when it runs."
      : "The session has ended: see its recording.";
    return;
  }
  if (sessionView.liveLoaded) return;
  // The dialect's details carry a fresh live-view link (its token lasts minutes); a frame that
  // is open keeps working after that.
  const url = ownUrl(s.liveViewUrl || "");
  if (!url) {
    $("live-note").textContent = "This session has no live view.";
    return;
  }
  sessionView.liveLoaded = true;
  $("live-note").textContent = "The page as the browser shows it; mouse and keyboard go to the page.";
  frame.src = url;
  frame.hidden = false;
  $("s-live-open").href = url;
  $("s-live-open").hidden = false;
}

function artifactKind(a) {
  const type = String(a.type || a.kind || "").toLowerCase();
  const mime = String(a.mimeType || a.contentType || "").toLowerCase();
  if (type === "video" || type === "recording" || mime.startsWith("video/")) return "video";
  if (type === "timeline" || /timeline/.test(String(a.name || ""))) return "timeline";
  return type || "file";
}

async function loadRecording(id, live) {
  if (sessionView.recordingLoaded) return;
  let answer;
  try {
    answer = await api("/api/sessions/" + encodeURIComponent(id) + "/artifacts");
  } catch (err) {
    $("rec-note").textContent = "Could not list the recording: " + err.message;
    return;
  }
  const artifacts = Array.isArray(answer.artifacts) ? answer.artifacts : [];
  const video = artifacts.filter((a) => artifactKind(a) === "video").pop();
  const timeline = artifacts.filter((a) => artifactKind(a) === "timeline").pop();
  if (!video) {
    const details = sessionView.details || {};
    $("rec-note").textContent = live
      ? "The recording is kept when the session ends."
      : justEnded(details)
        ? "No recording yet: a recorded session's video is saved a few seconds after it " +
          "ends and shows here then."
        : "This session has no recording (it was not recorded, or the recording has expired).";
    return;
  }
  const src = ownUrl(video.publicUrl || video.url);
  if (!src) return;
  sessionView.recordingLoaded = true;
  $("rec-note").textContent = "Click an event to jump to it in the video.";
  const player = $("rec-video");
  player.src = src;
  player.hidden = false;
  if (timeline) renderTimeline(await readTimeline(timeline));
}

async function readTimeline(artifact) {
  const url = ownUrl(artifact.publicUrl || artifact.url);
  if (!url) return [];
  try {
    const response = await fetch(url, {cache: "no-store"});
    if (!response.ok) return [];
    const data = await response.json();
    // The node's timeline (node/recorder.py): {video: {...}, entries: [{t_ms, kind, ...}]}.
    const events = Array.isArray(data) ? data : (data.entries || data.events || []);
    return Array.isArray(events) ? events : [];
  } catch (_) {
    return [];
  }
}

// Seconds into the video at which an event happened.
function eventSeconds(e) {
  for (const name of ["offset_ms", "offsetMs", "t_ms", "tMs", "time_ms", "timeMs", "at_ms", "ms"]) {
    if (Number.isFinite(Number(e[name])) && e[name] !== null && e[name] !== "") return Number(e[name]) / 1000;
  }
  for (const name of ["offset", "t", "time", "seconds", "at"]) {
    if (Number.isFinite(Number(e[name])) && e[name] !== null && e[name] !== "") return Number(e[name]);
  }
  return 0;
}

function eventText(e) {
  if (e.kind === "tab_switch") return `${e.from || "?"} \u2192 ${e.to || "?"}`;
  let text = "";
  for (const name of ["text", "message", "url", "description"]) {
    if (typeof e[name] === "string" && e[name]) { text = e[name]; break; }
  }
  if (!text) text = detailsText(e.details);
  if (e.success === false && e.reason) text += (text ? " \u2014 " : "") + e.reason;
  return text;
}

// An action's details as "url: …  ·  selector: …" (the URL alone when there is one).
function detailsText(details) {
  if (!details || typeof details !== "object") return "";
  if (typeof details.url === "string" && details.url) return details.url;
  return Object.entries(details)
    .filter(([name, value]) => name !== "action" && value !== "" && value !== null)
    .map(([name, value]) => `${name}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join("  \u00b7  ");
}

function renderTimeline(events) {
  const list = clear($("rec-timeline"));
  const player = $("rec-video");
  const items = events.filter((e) => e && typeof e === "object")
    .map((e) => ({at: eventSeconds(e),
                  kind: String((e.kind === "action" ? e.type : e.kind) || e.type || "event"),
                  text: eventText(e), failed: e.success === false}))
    .sort((a, b) => a.at - b.at);
  for (const item of items) {
    list.append(el("li", {dataset: {at: item.at}},
      el("button", {type: "button", title: "Jump to " + clock(item.at), onclick: () => {
        player.currentTime = item.at;
        player.play().catch(() => {});
      }},
        el("span", {class: "at", text: clock(item.at)}),
        el("span", {class: "what"},
          el("span", {class: "kind" + (item.failed ? " result-failed" : ""), text: item.kind}),
          item.text))));
  }
  if (!items.length) list.append(el("li", {class: "empty", text: "The timeline is empty."}));
}

function highlightTimeline() {
  const now = $("rec-video").currentTime;
  let current = null;
  for (const li of $("rec-timeline").children) {
    li.classList.remove("current");
    if (li.dataset.at !== undefined && Number(li.dataset.at) <= now + 0.05) current = li;
  }
  if (current) current.classList.add("current");
}

async function loadTable(id, path, listName, bodyId, emptyId, row) {
  let answer;
  try {
    answer = await api("/api/sessions/" + encodeURIComponent(id) + path);
  } catch (err) {
    if (err.status !== 401) showError("s-error", "Could not read it: " + err.message);
    return;
  }
  const items = Array.isArray(answer[listName]) ? answer[listName] : [];
  const body = clear($(bodyId));
  for (const item of items) body.append(row(item));
  const empty = $(emptyId);
  empty.hidden = items.length > 0;
  if (!empty.dataset.text) empty.dataset.text = empty.textContent;
  const ended = sessionView.details && !LIVE_STATUSES.has(sessionView.details.status);
  empty.textContent = ended && path !== "/artifacts"
    ? "The node keeps this log while the browser runs. The recording's timeline keeps the " +
      "actions, navigations and console errors."
    : empty.dataset.text;
}

function loadActions(id) {
  return loadTable(id, "/actions?limit=100", "actions", "actions-body", "actions-empty", (a) =>
    el("tr", {},
      el("td", {text: when(a.timestamp)}),
      el("td", {class: "mono", text: a.type || ""}),
      el("td", {class: a.success === false ? "result-failed" : "result-ok",
                text: a.success === false ? "failed" : "ok"}),
      el("td", {text: ms(a.duration)}),
      el("td", {class: "mono", text: [detailsText(a.details), a.error].filter(Boolean)
                                       .join("  \u2014  ")})));
}

function loadConsole(id) {
  return loadTable(id, "/console", "logs", "console-body", "console-empty", (l) =>
    el("tr", {},
      el("td", {text: when(l.timestamp)}),
      el("td", {class: "level-" + String(l.level || "log"), text: l.level || ""}),
      el("td", {class: "mono", text: l.message || ""})));
}

function loadNetwork(id) {
  return loadTable(id, "/network", "requests", "network-body", "network-empty", (r) =>
    el("tr", {},
      el("td", {class: "mono", text: r.method || ""}),
      el("td", {class: Number(r.status) >= 400 || r.failed ? "result-failed" : "",
                text: r.status === undefined || r.status === null ? (r.error || "") : r.status}),
      el("td", {class: "mono", text: r.url || ""}),
      el("td", {text: ms(r.duration)}),
      el("td", {text: bytes(r.size)})));
}

function loadArtifacts(id) {
  return loadTable(id, "/artifacts", "artifacts", "artifacts-body", "artifacts-empty", (a) => {
    const url = ownUrl(a.publicUrl || a.url);
    return el("tr", {},
      el("td", {text: a.type || ""}),
      el("td", {class: "mono", text: a.name || a.objectId || ""}),
      el("td", {text: when(a.timestamp || a.createdAt)}),
      el("td", {text: bytes(a.size ?? a.sizeBytes)}),
      el("td", {class: "actions"}, url
        ? el("a", {class: "button small ghost", href: url, download: a.name || "", text: "Download"})
        : null));
  });
}

// ---- nodes and the queue ---------------------------------------------------------------------

async function loadNodes() {
  let answer;
  try {
    answer = await api("/console/api/nodes");
  } catch (err) {
    if (err.status !== 401) showError("nodes-error", "Could not list nodes: " + err.message);
    return;
  }
  showError("nodes-error", "");
  const cluster = answer.scope === "cluster";
  $("nodes-scope").textContent = cluster
    ? "Every project's sessions are counted."
    : "Live sessions count this project's only; addresses and labels need the cluster secret.";
  const t = answer.totals || {};
  clear($("nodes-totals"));
  for (const [label, value] of [["nodes up", t.nodesUp], ["capacity", t.capacity],
                                ["free slots", t.freeSlots], ["warm browsers", t.warmBrowsers]]) {
    $("nodes-totals").append(el("div", {class: "tile"}, el("div", {class: "n", text: value ?? 0}),
                                el("div", {class: "l", text: label})));
  }
  const columns = ["Node", "State", "Capacity", "Free slots", "Warm browsers",
                   cluster ? "Live sessions" : "Your sessions"];
  if (cluster) columns.push("Relay", "Labels", "Lease until");
  $("nodes-head").replaceChildren(el("tr", {}, ...columns.map((c) => el("th", {text: c}))));
  const body = clear($("nodes-body"));
  for (const n of answer.nodes || []) {
    const state = !n.up ? "down" : n.draining ? "draining" : "up";
    const cells = [el("td", {class: "mono", text: n.id}), el("td", {}, badge(state),
                     n.downReason ? el("div", {class: "muted", text: n.downReason}) : null),
                   el("td", {text: n.capacity}), el("td", {text: n.freeSlots}),
                   el("td", {text: n.warmBrowsers}), el("td", {text: n.liveSessions})];
    if (cluster) {
      cells.push(el("td", {class: "mono", text: n.relayAddress || ""}),
                 el("td", {class: "mono", text: Object.entries(n.labels || {})
                   .map(([k, v]) => `${k}=${v}`).join(", ")}),
                 el("td", {text: when(n.leaseExpiresAt)}));
    }
    body.append(el("tr", {dataset: {node: n.id}}, ...cells));
  }
  $("nodes-empty").hidden = (answer.nodes || []).length > 0;
}

async function loadQueue() {
  let answer;
  try {
    answer = await api("/console/api/queue");
  } catch (err) {
    if (err.status !== 401) showError("queue-error", "Could not read the queue: " + err.message);
    return;
  }
  showError("queue-error", "");
  const rows = answer.sessions || [];
  const cluster = answer.scope === "cluster";
  $("queue-summary").textContent = `${answer.waiting} waiting in all (at most ${answer.maxSize})` +
    (cluster ? "" : `; ${rows.length} of them this project's`);
  const body = clear($("queue-body"));
  for (const q of rows) {
    body.append(el("tr", {dataset: {session: q.sessionId}},
      el("td", {text: q.position}),
      el("td", {class: "mono", text: q.sessionId}),
      el("td", {class: "mono", text: q.projectId}),
      el("td", {text: q.dialect}),
      el("td", {text: when(q.createdAt)}),
      el("td", {class: "mono", text: Object.entries(q.nodeSelector || {})
        .map(([k, v]) => `${k}=${v}`).join(", ")})));
  }
  $("queue-empty").hidden = rows.length > 0;
}

// ---- wiring ----------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", () => signOut(""));
  $("refresh").addEventListener("click", loadSessions);
  $("filter-status").addEventListener("change", renderSessions);
  $("filter-dialect").addEventListener("change", renderSessions);
  $("s-end").addEventListener("click", () => endSession(sessionView.id));
  $("rec-video").addEventListener("timeupdate", highlightTimeline);
  for (const button of document.querySelectorAll("#s-tabs button")) {
    button.addEventListener("click", () => {
      location.hash = "#/session/" + encodeURIComponent(sessionView.id) + "/" + button.dataset.tab;
    });
  }
  window.addEventListener("hashchange", route);
  route();
});
