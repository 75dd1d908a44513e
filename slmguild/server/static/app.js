// The slmguild chat page. It talks to the server's JSON API (/api/...) and to its
// OpenAI-compatible chat endpoint, streamed as Server-Sent Events. No framework, no build
// step: the server serves this file as it is. Data only ever reaches the page as text
// (textContent, or strings given to append()), never as HTML.

const KEY_STORAGE = "slmguild.apiKey";

const $ = (selector) => document.querySelector(selector);
const ui = {
  guildName: $("#guild-name"),
  experts: $("#experts"),
  toggle: $("#toggle-sessions"),
  sidebar: $("#sidebar"),
  newSession: $("#new-session"),
  sessions: $("#sessions"),
  notice: $("#notice"),
  conversation: $("#conversation"),
  auth: $("#auth"),
  key: $("#api-key"),
  authReason: $("#auth-reason"),
  composer: $("#composer"),
  message: $("#message"),
  send: $("#send"),
};

const state = {
  ready: null, // the pending or done load of the guild's name, the `model` of a chat request
  model: null,
  session: null, // the current session id, mirrored in the URL hash so that a reload keeps it
  inFlight: null, // the AbortController of the answer being streamed, if any
  keyPrompt: null, // the pending key form, shared by every request that got a 401 meanwhile
};

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---- DOM helpers ----------------------------------------------------------------------

/** An element with attributes and children; string children become (escaped) text nodes. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function formatNumber(value, digits = 3) {
  return typeof value === "number" ? value.toFixed(digits).replace(/\.?0+$/, "") : String(value);
}

/** Pretty JSON when `text` is JSON (tool results usually are), else the text itself. */
function pretty(value) {
  if (typeof value !== "string") return JSON.stringify(value, null, 2);
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

function notify(message) {
  ui.notice.textContent = message ?? "";
  ui.notice.hidden = !message;
}

// ---- HTTP, with the API key when the server asks for one --------------------------------

function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** fetch(), retried with a key from the key form for as long as the server answers 401. */
async function api(path, init = {}) {
  for (;;) {
    const response = await fetch(path, { ...init, headers: { ...init.headers, ...authHeaders() } });
    if (response.status !== 401) return response;
    const refused = sessionStorage.getItem(KEY_STORAGE) !== null;
    await askForKey(refused ? "The server refused this key; enter another." : "This server needs an API key.");
  }
}

function askForKey(reason) {
  ui.authReason.textContent = reason;
  ui.auth.hidden = false;
  ui.key.focus();
  state.keyPrompt ??= new Promise((resolve) => {
    ui.auth.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        sessionStorage.setItem(KEY_STORAGE, ui.key.value.trim());
        ui.key.value = "";
        ui.auth.hidden = true;
        state.keyPrompt = null;
        ui.message.focus();
        resolve();
      },
      { once: true },
    );
  });
  return state.keyPrompt;
}

/** The message of an error body, `{"error": {"message": ...}}`, or the HTTP status. */
async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body?.error?.message) return body.error.message;
  } catch {
    // not JSON: the status says enough
  }
  return `${response.status} ${response.statusText}`.trim();
}

async function getJSON(path) {
  const response = await api(path);
  if (!response.ok) throw new HttpError(response.status, await errorMessage(response));
  return response.json();
}

// ---- Server-Sent Events ------------------------------------------------------------------

/** The `data` of each event of a streamed response (EventSource cannot POST, hence by hand). */
async function* serverEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value, { stream: !done });
      // Normalised on the whole buffer, so a "\r\n" split across two reads is still found.
      buffer = buffer.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const data = eventData(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (data !== null) yield data;
      }
      if (done) {
        const data = eventData(buffer);
        if (data !== null) yield data;
        return;
      }
    }
  } finally {
    reader.cancel().catch(() => {}); // the caller stopped early (an error event): free the connection
  }
}

/** An event's data lines joined; comments (":...") and other fields carry nothing for us. */
function eventData(block) {
  const lines = block
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).replace(/^ /, ""));
  return lines.length ? lines.join("\n") : null;
}

// ---- Turns -------------------------------------------------------------------------------

/** One question and its answer in the conversation, with the answering expert and a trace. */
class Turn {
  constructor(message) {
    this.trace = {};
    this.badge = el("span", { class: "badge" });
    this.badge.hidden = true;
    this.status = el("span", { class: "status" });
    this.answer = el("div", { class: "answer" });
    this.text = document.createTextNode("");
    this.answer.append(this.text);
    this.error = el("p", { class: "error" });
    this.error.hidden = true;
    this.traceBody = el("div", { class: "trace-body" });
    this.details = el("details", { class: "trace" }, el("summary", {}, "Trace"), this.traceBody);
    this.details.hidden = true; // until there is something to show
    this.node = el(
      "article",
      { class: "turn", "data-state": "streaming" },
      el("span", { class: "visually-hidden" }, "You:"), // outside .user, whose text is the message alone
      el("div", { class: "user" }, message),
      el("div", { class: "reply" }, el("p", { class: "meta" }, this.badge, this.status), this.answer, this.error, this.details),
    );
    ui.conversation.querySelector(".empty")?.remove();
    ui.conversation.append(this.node);
  }

  setState(value) {
    this.node.dataset.state = value; // "streaming", "done" or "error": tests wait on it
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  setExpert(name) {
    if (!name) return;
    this.badge.textContent = name;
    this.badge.classList.toggle("escalated", name === "escalated");
    this.badge.hidden = false;
  }

  appendText(piece) {
    const follow = nearBottom();
    this.text.appendData(piece); // one text node: each piece is appended, nothing re-rendered
    if (follow) scrollToBottom();
  }

  /** Opens the trace at the source cited as [id], scrolled into view and marked. */
  openSource(id) {
    this.details.open = true;
    const item = [...this.traceBody.querySelectorAll(".source")].find((node) => node.dataset.id === id);
    if (!item) return;
    for (const node of this.traceBody.querySelectorAll(".source.cited")) node.classList.remove("cited");
    item.classList.add("cited");
    item.scrollIntoView({ block: "nearest" });
  }

  addTrace(patch) {
    Object.assign(this.trace, patch);
    this.traceBody.replaceChildren(...traceSections(this.trace));
    this.details.hidden = false;
  }

  /** A progress event (`slmguild.event`) of the stream. */
  apply(event) {
    const trace = this.trace;
    switch (event.event) {
      case "routed":
        this.setExpert(event.expert);
        this.setStatus(event.reason ? `routed: ${event.reason}` : "routed");
        this.addTrace({ route: { expert: event.expert, reason: event.reason, scores: event.scores } });
        break;
      case "escalated":
        this.setExpert("escalated");
        this.setStatus(`escalated to ${event.model ?? "the larger model"}`);
        this.addTrace({ escalation: { reason: event.reason, model: event.model } });
        break;
      case "retrieved":
        this.setStatus(`${event.sources?.length ?? 0} sources found`);
        this.addTrace({ retrieved: [...(trace.retrieved ?? []), ...(event.sources ?? [])] });
        break;
      case "tool_call":
        this.setStatus(`calling ${event.tool}…`);
        this.addTrace({ tools: [...(trace.tools ?? []), { ...event, status: "running" }] });
        break;
      case "tool_result":
        this.setStatus(`${event.tool}: ${event.status}`);
        this.addTrace({ tools: withResult(trace.tools ?? [], event) });
        break;
      case "planned":
        this.setStatus(`split into ${event.parts?.length ?? 0} parts`);
        this.addTrace({ plan: event.parts });
        break;
      case "handoff":
        this.setExpert(event.to);
        this.setStatus(`handed off from ${event.expert} to ${event.to}`);
        this.addTrace({ handoffs: [...(trace.handoffs ?? []), event] });
        break;
      case "done":
        this.setExpert(event.escalated ? "escalated" : event.expert);
        this.addTrace({ model: event.model, ...event.trace });
        if (event.pending) this.askApproval(event.pending);
        break;
    }
  }

  /** The call this turn stopped at: what would run, and the user's Approve / Refuse. */
  askApproval(pending) {
    const answer = (approve) => {
      for (const button of buttons) button.disabled = true;
      send(approve ? "Approve" : "Refuse", approve);
    };
    const buttons = [
      el("button", { type: "button", class: "approve" }, "Approve"),
      el("button", { type: "button", class: "refuse" }, "Refuse"),
    ];
    buttons[0].addEventListener("click", () => answer(true), { once: true });
    buttons[1].addEventListener("click", () => answer(false), { once: true });
    this.answer.after(
      el("div", { class: "approval" },
        el("p", {}, `${pending.expert} would run `, el("code", {}, pending.tool)),
        el("pre", {}, pretty(pending.arguments)),
        el("p", { class: "actions" }, ...buttons)),
    );
  }

  finish() {
    // Models often open or close with blank lines; the final text is what the session keeps.
    this.answer.replaceChildren(...markdown(this.text.data.trim(), (id) => this.openSource(id)));
    this.setStatus(summary(this.trace));
    this.setState("done");
  }

  fail(message) {
    this.error.textContent = message;
    this.error.hidden = false;
    this.setStatus("");
    this.setState("error");
  }
}

/** The tool calls with `result` filled into its still-running call (or appended). */
function withResult(calls, result) {
  const index = calls.findLastIndex((call) => call.tool === result.tool && call.status === "running");
  if (index < 0) return [...calls, result];
  return calls.map((call, i) => (i === index ? { ...call, status: result.status, content: result.content } : call));
}

function summary(trace) {
  const parts = [trace.model];
  if (typeof trace.latency_s === "number") parts.push(`${formatNumber(trace.latency_s, 1)} s`);
  return parts.filter(Boolean).join(" · ");
}

// ---- The answer's Markdown -------------------------------------------------------------

const LIST_LINE = /^\s*([-*+]|\d{1,2}[.)])\s+(.*)$/;
// **strong**, `code`, a citation [doc-id], an http(s) URL (trailing punctuation left out).
const INLINE = /\*\*(.+?)\*\*|`([^`]+)`|\[([A-Za-z0-9][\w.-]*)\]|(https?:\/\/[^\s<>()\[\]]*[^\s<>()\[\].,;:!?'"])/g;

/**
 * The answer's Markdown as elements: paragraphs, "- " and "1. " lists, **strong**, `code`,
 * links, and citations ([doc-id]) that open their source in the trace (`cite(id)`). Built
 * from text nodes only, so nothing in a document, a model's answer or a user's message
 * ever runs as HTML: the page renders a subset of Markdown, sanitized by construction.
 */
function markdown(text, cite) {
  const blocks = [];
  for (const block of text.split(/\n{2,}/)) {
    let list = null;
    let paragraph = null;
    for (const line of block.split("\n")) {
      const item = LIST_LINE.exec(line);
      if (item) {
        const ordered = /\d/.test(item[1]);
        if (!list || (list.tagName === "OL") !== ordered) {
          list = ordered ? el("ol", { start: String(parseInt(item[1], 10)) }) : el("ul");
          blocks.push(list);
        }
        list.append(el("li", {}, ...inline(item[2], cite)));
        paragraph = null;
      } else if (line.trim()) {
        if (!paragraph) blocks.push((paragraph = el("p")));
        else paragraph.append(el("br"));
        paragraph.append(...inline(line, cite));
        list = null;
      }
    }
  }
  return blocks;
}

/** One line's inline Markdown as text nodes and elements. */
function inline(line, cite) {
  const nodes = [];
  let last = 0;
  for (const match of line.matchAll(INLINE)) {
    nodes.push(line.slice(last, match.index));
    const [, strong, code, citation, url] = match;
    if (strong !== undefined) nodes.push(el("strong", {}, strong));
    else if (code !== undefined) nodes.push(el("code", {}, code));
    else if (url !== undefined) nodes.push(el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url));
    else {
      const link = el("a", { href: "#", class: "cite", "data-id": citation }, `[${citation}]`);
      link.addEventListener("click", (event) => {
        event.preventDefault();
        cite(citation);
      });
      nodes.push(link);
    }
    last = match.index + match[0].length;
  }
  nodes.push(line.slice(last));
  return nodes.filter(Boolean);
}

// ---- The trace ---------------------------------------------------------------------------

function traceSections(trace) {
  return [
    trace.route && routeSection(trace.route),
    trace.escalation && section("Escalation", el("p", {}, `${trace.escalation.reason ?? ""} (${trace.escalation.model ?? "larger model"})`)),
    planParts(trace.plan).length && section("Plan", el("ol", {}, ...planParts(trace.plan).map(([expert, question]) => el("li", {}, el("strong", {}, expert), ": ", question)))),
    trace.handoffs?.length && section("Handoffs", el("ul", {}, ...trace.handoffs.map((h) => el("li", {}, `${h.expert} → ${h.to}`, h.reason ? `: ${h.reason}` : "")))),
    trace.retrieved?.length && section("Sources", el("ol", { class: "sources" }, ...trace.retrieved.map(sourceItem))),
    trace.tools?.length && section("Tool calls", el("ol", { class: "tool-calls" }, ...trace.tools.map(toolItem))),
    timingSection(trace),
  ].filter(Boolean);
}

/**
 * A plan's parts as [expert, question] pairs: the `planned` event sends them so, while the
 * finished turn's trace (and a saved session's) holds the plan as {parts: [{expert, question}]}.
 */
function planParts(plan) {
  if (Array.isArray(plan)) return plan;
  return (plan?.parts ?? []).map((part) => [part.expert, part.question]);
}

function section(title, ...content) {
  return el("section", {}, el("h3", {}, title), ...content);
}

function routeSection(route) {
  const scores = Object.entries(route.scores ?? {}).sort(([, a], [, b]) => b - a);
  const table = scores.length
    ? el(
        "table",
        { class: "scores" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Expert"), el("th", { scope: "col" }, "Score"))),
        el("tbody", {}, ...scores.map(([expert, score]) => scoreRow(expert, score, expert === route.expert))),
      )
    : null;
  return section("Route", el("p", {}, el("strong", {}, route.expert ?? "several experts"), route.reason ? `: ${route.reason}` : ""), table);
}

function scoreRow(expert, score, chosen) {
  const meter = el("meter", { min: "0", max: "1", value: String(Math.max(0, score)), "aria-hidden": "true" });
  return el(
    "tr",
    chosen ? { class: "chosen" } : {},
    el("th", { scope: "row" }, expert),
    el("td", {}, meter, " ", formatNumber(score)),
  );
}

function sourceItem(source) {
  const scores = [
    source.score !== undefined && `score ${formatNumber(source.score)}`,
    source.similarity !== undefined && `similarity ${formatNumber(source.similarity)}`,
  ].filter(Boolean);
  return el(
    "li",
    { class: "source", "data-id": source.id ?? "" },
    el("strong", {}, source.heading || source.id || "source"),
    " ",
    el("code", { class: "path" }, source.source ?? source.chunk ?? ""),
    scores.length ? el("span", { class: "score" }, ` ${scores.join(", ")}`) : null,
    source.snippet ? el("blockquote", { class: "snippet" }, source.snippet) : null,
  );
}

function toolItem(call) {
  const ok = call.status === "ok";
  return el(
    "li",
    { class: "tool-call" },
    el("code", {}, call.tool ?? "?"),
    " ",
    el("span", { class: `tool-status ${ok ? "ok" : "failed"}` }, call.status ?? ""),
    call.expert ? el("span", { class: "by" }, ` by ${call.expert}`) : null,
    call.approval ? el("div", { class: "approval-record" }, approvalNote(call)) : null,
    el("div", { class: "label" }, "Arguments"),
    el("pre", {}, pretty(call.arguments ?? {})),
    call.content !== undefined ? el("div", { class: "label" }, "Result") : null,
    call.content !== undefined ? el("pre", {}, pretty(call.content)) : null,
  );
}

/** Who answered a call that waited for approval, and when: "Approved by alice, 2026-12-07 09:14 UTC". */
function approvalNote(call) {
  const answer = call.approval[0].toUpperCase() + call.approval.slice(1);
  const who = call.approval_by ? ` by ${call.approval_by}` : "";
  const when = call.approval_at ? `, ${call.approval_at.replace("T", " ").replace(/:\d\d\+00:00$/, " UTC")}` : "";
  return `${answer}${who}${when}`;
}

function timingSection(trace) {
  const rows = [
    ["Model", trace.model],
    ["Latency", typeof trace.latency_s === "number" ? `${formatNumber(trace.latency_s, 2)} s` : null],
    ["First token", typeof trace.first_token_s === "number" ? `${formatNumber(trace.first_token_s, 2)} s` : null],
    ...Object.entries(trace.usage ?? {}).map(([name, value]) => [name.replaceAll("_", " "), formatNumber(value)]),
  ].filter(([, value]) => value !== null && value !== undefined);
  if (!rows.length) return null;
  return section("Run", el("dl", {}, ...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])));
}

// ---- The conversation --------------------------------------------------------------------

function nearBottom() {
  const c = ui.conversation;
  return c.scrollHeight - c.scrollTop - c.clientHeight < 80;
}

function scrollToBottom() {
  ui.conversation.scrollTop = ui.conversation.scrollHeight;
}

function clearConversation() {
  ui.conversation.replaceChildren(
    el("p", { class: "empty" }, "Ask a question: the guild routes it to the expert that owns the topic."),
  );
}

function setBusy(busy) {
  ui.send.disabled = busy;
  ui.conversation.setAttribute("aria-busy", String(busy)); // screen readers read the answer once whole
}

/** One turn: `message`, or with `approve` the answer to the call the session's turn waits on. */
async function send(message, approve = undefined) {
  notify(null);
  const turn = new Turn(message);
  turn.setStatus("routing…");
  scrollToBottom();
  const controller = new AbortController();
  state.inFlight = controller;
  setBusy(true);
  try {
    await guildReady();
    const response = await api("/v1/chat/completions", {
      method: "POST",
      signal: controller.signal,
      headers: { "Content-Type": "application/json", "X-Session-Id": state.session },
      // The server keeps the session's history: only the new message goes up.
      body: JSON.stringify({
        model: state.model,
        messages: [{ role: "user", content: message }],
        stream: true,
        ...(approve === undefined ? {} : { slmguild: { approve } }),
      }),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    await readAnswer(turn, response);
  } catch (error) {
    turn.fail(error.name === "AbortError" ? "Stopped." : error.message);
  } finally {
    if (state.inFlight === controller) {
      state.inFlight = null;
      setBusy(false);
    }
    refreshSessions(); // a first message creates the session; every turn changes its count
  }
}

async function readAnswer(turn, response) {
  for await (const data of serverEvents(response)) {
    if (data === "[DONE]") return turn.finish();
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(chunk.error.message ?? "the server failed");
    const piece = chunk.choices?.[0]?.delta?.content;
    if (piece) turn.appendText(piece);
    if (chunk.slmguild) turn.apply(chunk.slmguild);
  }
  throw new Error("The connection closed before the answer was complete.");
}

function showSavedTurn({ message, text, expert, escalated, trace }) {
  const turn = new Turn(message);
  turn.appendText(text ?? "");
  turn.setExpert(escalated ? "escalated" : expert);
  if (trace) turn.addTrace(trace);
  turn.finish();
}

// ---- Sessions ----------------------------------------------------------------------------

function makeSessionId() {
  // randomUUID exists only in secure contexts (https, localhost): not on a LAN address.
  const random =
    globalThis.crypto?.randomUUID?.() ??
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `s-${random}`;
}

function sessionFromHash() {
  return decodeURIComponent(location.hash.slice(1)) || null;
}

function stopStreaming() {
  state.inFlight?.abort();
  state.inFlight = null;
  setBusy(false);
}

function newSession() {
  stopStreaming();
  notify(null);
  state.session = makeSessionId();
  clearConversation();
  markCurrentSession();
  // The first session replaces the bare URL: Back must not land on "/" and make another.
  if (location.hash) location.hash = state.session;
  else history.replaceState(null, "", `#${state.session}`);
  ui.message.focus();
}

async function openSession(id) {
  stopStreaming();
  notify(null);
  state.session = id;
  clearConversation();
  markCurrentSession();
  try {
    const session = await getJSON(`/api/sessions/${encodeURIComponent(id)}`);
    if (state.session !== id) return; // another session was opened meanwhile
    session.turns.forEach(showSavedTurn);
    scrollToBottom();
  } catch (error) {
    // A session with no turn yet (just made, or deleted) is simply empty.
    if (!(error instanceof HttpError && error.status === 404)) notify(`Could not load the session: ${error.message}`);
  }
}

async function deleteSession(id) {
  const response = await api(`/api/sessions/${encodeURIComponent(id)}`, { method: "DELETE" });
  if (!response.ok && response.status !== 404) {
    notify(`Could not delete the session: ${await errorMessage(response)}`);
    return;
  }
  if (id === state.session) newSession();
  await refreshSessions();
}

async function refreshSessions() {
  try {
    const { sessions } = await getJSON("/api/sessions");
    ui.sessions.replaceChildren(...sessions.map(sessionItem));
    markCurrentSession();
  } catch (error) {
    notify(`Could not list the sessions: ${error.message}`);
  }
}

function sessionItem({ id, title, turns }) {
  const label = title || id;
  const open = el(
    "button",
    { type: "button", class: "open" },
    el("span", { class: "title" }, label),
    el("span", { class: "turns" }, `${turns} turn${turns === 1 ? "" : "s"}`),
  );
  open.addEventListener("click", () => {
    location.hash = id; // the hashchange handler opens it
    setSidebar(false);
  });
  const remove = el("button", { type: "button", class: "delete", "aria-label": `Delete session: ${label}`, title: "Delete session" }, "×");
  remove.addEventListener("click", () => deleteSession(id));
  const item = el("li", { class: "session" }, open, remove);
  item.dataset.id = id;
  return item;
}

function markCurrentSession() {
  for (const item of ui.sessions.querySelectorAll("li.session")) {
    const button = item.querySelector("button.open");
    if (item.dataset.id === state.session) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

// ---- The guild and the layout ------------------------------------------------------------

function guildReady() {
  // Loaded once; after a failure, the next message tries again.
  state.ready ??= loadGuild().catch((error) => {
    state.ready = null;
    throw error;
  });
  return state.ready;
}

async function loadGuild() {
  const { guild, experts } = await getJSON("/api/experts");
  state.model = guild;
  ui.guildName.textContent = guild;
  document.title = `${guild} · slmguild`;
  ui.experts.replaceChildren(...experts.map((expert) => el("li", { title: expert.description ?? "" }, expert.name)));
}

/** On narrow screens the session list is behind the toggle button. */
function setSidebar(open) {
  ui.toggle.setAttribute("aria-expanded", String(open));
  ui.sidebar.classList.toggle("open", open);
}

function onMessageKey(event) {
  // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition is neither.
  if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  ui.composer.requestSubmit();
}

function onSubmit(event) {
  event.preventDefault();
  const message = ui.message.value.trim();
  if (!message || state.inFlight) return;
  ui.message.value = "";
  send(message);
}

function start() {
  ui.message.addEventListener("keydown", onMessageKey);
  ui.composer.addEventListener("submit", onSubmit);
  ui.newSession.addEventListener("click", () => {
    newSession();
    setSidebar(false);
  });
  ui.toggle.addEventListener("click", () => setSidebar(ui.toggle.getAttribute("aria-expanded") !== "true"));
  window.addEventListener("hashchange", () => {
    const id = sessionFromHash();
    if (!id) newSession();
    else if (id !== state.session) openSession(id);
  });

  guildReady().catch((error) => notify(`Could not reach the guild: ${error.message}`));
  const id = sessionFromHash();
  if (id) openSession(id);
  else newSession();
  refreshSessions();
}

start();
