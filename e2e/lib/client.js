"use strict";
// socket.io-client wrapper that records every event a client receives, so tests can
// assert exact sequences (no missing, no duplicate, no reordered, no unexpected events).
const util = require("node:util");
const { io } = require("socket.io-client");

const CLIENT_OPTS = Object.freeze({
  transports: ["polling"],
  path: "/socket.io/",
  forceNew: true,
  reconnection: false,
  autoConnect: false,
  timeout: 15000, // connect timeout
});

const WAIT_MS = Number(process.env.SIO_E2E_WAIT_MS || 15000);

class Client {
  constructor(baseUrl, nsp, name) {
    this.name = name;
    this.url = baseUrl + nsp;
    this.socket = io(this.url, { ...CLIENT_OPTS }); // the client mutates its options
    this.welcomes = []; // argument arrays of every "system_message"
    this.chats = []; // argument arrays of every "chat_message"
    this.others = []; // [event, ...args] of any other event
    this.disconnectReason = null;
    this._waiters = new Set();
    this.socket.on("system_message", (...args) => this._push(this.welcomes, args));
    this.socket.on("chat_message", (...args) => this._push(this.chats, args));
    this.socket.onAny((event, ...args) => {
      if (event !== "system_message" && event !== "chat_message") this._push(this.others, [event, ...args]);
    });
    this.socket.on("disconnect", (reason, details) => {
      this.disconnectReason = `${reason}${details ? ` (${describeErr(details)})` : ""}`;
      this._check();
    });
  }

  _push(list, item) {
    list.push(item);
    this._check();
  }

  _check() {
    for (const w of this._waiters) w();
  }

  // Connects; resolves on "connect", rejects with the connect_error (or a timeout).
  connect() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: no connect/connect_error within ${WAIT_MS} ms`));
      }, WAIT_MS);
      const onConnect = () => { cleanup(); resolve(this); };
      const onError = (err) => { cleanup(); reject(err); };
      const cleanup = () => {
        clearTimeout(timer);
        this.socket.off("connect", onConnect);
        this.socket.off("connect_error", onError);
      };
      this.socket.on("connect", onConnect);
      this.socket.on("connect_error", onError);
      this.socket.connect();
    });
  }

  // Resolves when predicate() holds; rejects after timeoutMs or if the client is
  // disconnected first. `what` describes the condition for the failure message.
  waitUntil(predicate, what, timeoutMs = WAIT_MS) {
    return new Promise((resolve, reject) => {
      let timer;
      const check = () => {
        if (predicate()) {
          finish();
          resolve();
        } else if (this.disconnectReason !== null) {
          finish();
          reject(new Error(`${this.name}: disconnected (${this.disconnectReason}) while waiting for ${what}; ${this.summary()}`));
        }
      };
      const finish = () => {
        clearTimeout(timer);
        this._waiters.delete(check);
      };
      timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}; ${this.summary()}`));
      }, timeoutMs);
      this._waiters.add(check);
      check();
    });
  }

  waitForChats(n, timeoutMs) {
    return this.waitUntil(() => this.chats.length >= n, `${n} chat_message event(s)`, timeoutMs);
  }

  waitForWelcome(timeoutMs) {
    return this.waitUntil(() => this.welcomes.length >= 1, "the system_message welcome", timeoutMs);
  }

  // Emits chat_message and resolves with the ack's arguments (rejects on ack timeout).
  send(text, timeoutMs = WAIT_MS) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(timeoutMs).emit("chat_message", { text }, (err, ...ackArgs) => {
        if (err) reject(new Error(`${this.name}: no ack for chat_message within ${timeoutMs} ms (${describeErr(err)})`));
        else resolve(ackArgs);
      });
    });
  }

  summary() {
    return `${this.name} received ${this.welcomes.length} system_message, ${this.chats.length} chat_message, ` +
      `${this.others.length} other event(s); connected=${this.socket.connected}`;
  }

  close() {
    this.socket.disconnect();
  }
}

function describeErr(err) {
  if (!err) return String(err);
  if (err instanceof Error || err.message) {
    const ctx = err.context;
    const extra = [
      err.description !== undefined && `description=${clip(err.description, 200)}`,
      ctx && ctx.status !== undefined && `http status=${ctx.status}`,
      ctx && typeof ctx.responseText === "string" && `body=${clip(ctx.responseText, 200)}`,
    ]
      .filter(Boolean)
      .join(" ");
    return `${err.message}${extra ? ` ${extra}` : ""}`;
  }
  return util.inspect(err, { depth: 2 });
}

function clip(value, max = 300) {
  const s = typeof value === "string" ? JSON.stringify(value) : util.inspect(value, { depth: 4, breakLength: Infinity });
  return s.length > max ? `${s.slice(0, max)}... (${s.length} chars)` : s;
}

// Asserts that `events` (argument arrays as recorded by Client) is exactly one
// single-argument event per entry of `expected`, deep-equal and in the same order.
// Failure messages are compact (no multi-hundred-KB diffs).
function assertEvents(events, expected, label) {
  const problems = [];
  for (let i = 0; i < Math.max(events.length, expected.length); i++) {
    if (i >= events.length) {
      problems.push(`missing event #${i}: want ${clip(expected[i])}`);
    } else if (i >= expected.length) {
      problems.push(`unexpected extra event #${i}: ${clip(events[i])}`);
    } else if (events[i].length !== 1) {
      problems.push(`event #${i} has ${events[i].length} arguments, want 1: ${clip(events[i])}`);
    } else if (!util.isDeepStrictEqual(events[i][0], expected[i])) {
      problems.push(`event #${i} differs: got ${clip(events[i][0])}, want ${clip(expected[i])}${stringDiffHint(events[i][0], expected[i])}`);
    }
    if (problems.length >= 5) break;
  }
  if (problems.length) {
    const err = new Error(`${label}: got ${events.length} event(s), want ${expected.length}:\n  ${problems.join("\n  ")}`);
    err.code = "ERR_ASSERTION";
    throw err;
  }
}

function stringDiffHint(got, want) {
  const g = got && got.text;
  const w = want && want.text;
  if (typeof g !== "string" || typeof w !== "string") return "";
  let i = 0;
  while (i < g.length && i < w.length && g[i] === w[i]) i++;
  return ` (text lengths ${g.length}/${w.length}, first difference at UTF-16 index ${i}: got ${clip(g.slice(i, i + 20))}, want ${clip(w.slice(i, i + 20))})`;
}

module.exports = { Client, CLIENT_OPTS, WAIT_MS, assertEvents, describeErr, clip };
