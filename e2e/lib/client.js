"use strict";
// socket.io-client wrapper that records every event a client receives, so tests can
// assert exact sequences (no missing, no duplicate, no reordered, no unexpected events),
// and the Engine.IO transport history (which transport opened, upgrades, upgrade errors).
const util = require("node:util");
const { io } = require("socket.io-client");
const { isDynamoMode } = require("./server");

// Default: long-polling only. Tests pass { transports: ["websocket"] } (WebSocket only) or
// { transports: TRANSPORTS_DEFAULT } (the client's default: polling first, then upgrade).
const CLIENT_OPTS = Object.freeze({
  transports: ["polling"],
  path: "/socket.io/",
  forceNew: true,
  reconnection: false,
  autoConnect: false,
  timeout: 15000, // connect timeout
});

const TRANSPORTS_DEFAULT = Object.freeze(["polling", "websocket"]);
// Longest wait for one condition (e.g. all 300 messages of a burst). On DynamoDB (Local) every
// WebSocket frame is its own commit of several writes, so a 300-frame burst takes about 6 s,
// and 13 s on a freshly started DynamoDB Local, against about 1 s on Redis: the bound is 30 s
// in DynamoDB mode. It only bounds how long a failure takes to show; what must arrive is
// checked all the same.
const WAIT_MS = Number(process.env.SIO_E2E_WAIT_MS || (isDynamoMode() ? 30000 : 15000));

class Client {
  // opts: socket.io-client options merged over CLIENT_OPTS (e.g. { transports: ["websocket"] }).
  constructor(baseUrl, nsp, name, opts = {}) {
    this.name = name;
    this.url = baseUrl + nsp;
    this.opts = { ...CLIENT_OPTS, ...opts };
    this.opts.transports = [...this.opts.transports]; // the client mutates its options
    this.socket = io(this.url, { ...this.opts });
    this.welcomes = []; // argument arrays of every "system_message"
    this.chats = []; // argument arrays of every "chat_message"
    this.others = []; // [event, ...args] of any other event
    this.disconnectReason = null; // reason and details, for messages
    this.disconnectCause = null; // the reason alone
    // Engine.IO transport history: "open:polling", "upgrading:websocket", "upgrade:websocket",
    // "upgradeError:<message>", "close:<reason>". The manager's "open" fires synchronously
    // before the engine starts its upgrade probe, so no upgrade event can be missed.
    this.transportLog = [];
    this.socket.io.on("open", () => {
      const engine = this.socket.io.engine;
      this._push(this.transportLog, `open:${engine.transport.name}`);
      engine.on("upgrading", (t) => this._push(this.transportLog, `upgrading:${t.name}`));
      engine.on("upgrade", (t) => this._push(this.transportLog, `upgrade:${t.name}`));
      engine.on("upgradeError", (err) => this._push(this.transportLog, `upgradeError:${describeErr(err)}`));
      engine.on("close", (reason) => this._push(this.transportLog, `close:${reason}`));
      engine.on("data", (data) => {
        if (this.left) this._push(this.dataAfterLeave, data);
      });
    });
    this.left = false; // set by leaveKeepingTransport()
    this.dataAfterLeave = []; // raw Engine.IO message payloads received after leaving
    this._waiters = new Set();
    this.socket.on("system_message", (...args) => this._push(this.welcomes, args));
    this.socket.on("chat_message", (...args) => this._push(this.chats, args));
    this.socket.onAny((event, ...args) => {
      if (event !== "system_message" && event !== "chat_message") this._push(this.others, [event, ...args]);
    });
    this.socket.on("disconnect", (reason, details) => {
      this.disconnectCause = reason; // e.g. "io client disconnect", "transport close"
      const more = details && (details.description !== undefined ? details.description : describeErr(details));
      this.disconnectReason = `${reason}${more ? ` (${more})` : ""}`;
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
        let ok;
        try {
          ok = predicate();
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        if (ok) {
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

  // Name of the Engine.IO transport in use now ("polling", "websocket"), or null.
  transport() {
    const engine = this.socket.io.engine;
    return engine && engine.transport ? engine.transport.name : null;
  }

  // Resolves once the engine emitted "upgrade" (to websocket); rejects on upgradeError,
  // disconnect or timeout.
  waitForUpgrade(timeoutMs) {
    return this.waitUntil(() => {
      const failed = this.transportLog.find((e) => e.startsWith("upgradeError:"));
      if (failed) throw new Error(`${this.name}: ${failed}; transport log: ${this.transportLog.join(", ")}`);
      return this.transportLog.includes("upgrade:websocket");
    }, "the upgrade to websocket", timeoutMs);
  }

  // Emits chat_message and resolves with the ack's arguments (rejects on ack timeout).
  // The promise is marked handled: tests that emit many messages and await the acks later
  // must not turn a missing ack into an unhandledRejection that hides the first failure.
  send(text, timeoutMs = WAIT_MS) {
    const ack = new Promise((resolve, reject) => {
      this.socket.timeout(timeoutMs).emit("chat_message", { text }, (err, ...ackArgs) => {
        if (err) reject(new Error(`${this.name}: no ack for chat_message within ${timeoutMs} ms (${describeErr(err)})`));
        else resolve(ackArgs);
      });
    });
    ack.catch(() => {});
    return ack;
  }

  // Sends the Socket.IO DISCONNECT packet for this namespace ("41/chat,"), exactly as
  // socket.disconnect() does, but keeps the Engine.IO connection open and keeps recording:
  // the server must send this socket nothing more (it left the namespace, so the lobby).
  // socket.disconnect() would close the transport as well, so nothing could be observed.
  leaveKeepingTransport() {
    this.left = true;
    this.socket.packet({ type: 1 }); // socket.io-parser PacketType.DISCONNECT
  }

  summary() {
    return `${this.name} [${this.opts.transports.join(",")}] received ${this.welcomes.length} system_message, ` +
      `${this.chats.length} chat_message, ${this.others.length} other event(s); connected=${this.socket.connected}; ` +
      `transport=${this.transport()} (${this.transportLog.join(", ") || "never opened"})` +
      (this.left ? `; left /chat, then got ${this.dataAfterLeave.length} Engine.IO message(s): ${clip(this.dataAfterLeave, 300)}` : "");
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

// Asserts that `events` (argument arrays as recorded by Client) holds exactly the items of
// `streams` (arrays of expected payloads, typically one per sender, all items distinct), each
// stream's items in that stream's order, interleaved in any way: nothing missing, duplicated,
// reordered within a stream, or unexpected. For concurrent senders, whose relative order
// at a receiver is not defined by the protocol.
function assertInterleaving(events, streams, label) {
  const pos = streams.map(() => 0);
  const problems = [];
  for (let i = 0; i < events.length && problems.length < 5; i++) {
    const ev = events[i];
    if (ev.length !== 1) {
      problems.push(`event #${i} has ${ev.length} arguments, want 1: ${clip(ev)}`);
      continue;
    }
    const k = streams.findIndex((s, j) => pos[j] < s.length && util.isDeepStrictEqual(s[pos[j]], ev[0]));
    if (k >= 0) {
      pos[k]++;
      continue;
    }
    let why = "not expected at all";
    streams.forEach((s, j) => {
      const idx = s.findIndex((x) => util.isDeepStrictEqual(x, ev[0]));
      if (idx >= 0) why = idx < pos[j] ? `duplicate of stream ${j} item #${idx}` : `stream ${j} item #${idx} out of order (item #${pos[j]} is next)`;
    });
    problems.push(`event #${i} ${clip(ev[0], 120)}: ${why}`);
  }
  streams.forEach((s, j) => {
    if (pos[j] < s.length && problems.length < 8) {
      problems.push(`stream ${j}: ${s.length - pos[j]} item(s) missing from #${pos[j]} on: ${clip(s[pos[j]], 120)}`);
    }
  });
  if (problems.length) {
    const total = streams.reduce((n, s) => n + s.length, 0);
    const err = new Error(`${label}: got ${events.length} event(s), want ${total} (${streams.length} interleaved streams):\n  ${problems.join("\n  ")}`);
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

module.exports = { Client, CLIENT_OPTS, TRANSPORTS_DEFAULT, WAIT_MS, assertEvents, assertInterleaving, describeErr, clip };
