"use strict";
// Launches the server under test, chosen by environment:
//   SIO_LOCAL_BIN=/path/to/binary  our Go server (cmd/local), spawned as
//                                  <bin> -addr 127.0.0.1:PORT -redis "$SIO_REDIS_URL" [flags]
//     + SIO_DYNAMODB_URL=http://.. the same binary on DynamoDB instead of Redis:
//                                  <bin> -addr 127.0.0.1:PORT -dynamodb "$SIO_DYNAMODB_URL" -table T [flags]
//                                  with T unique to one useServers() call of one test file and
//                                  run (every process of that call gets the same T, so they
//                                  share sessions); plus -redis "$SIO_REDIS_URL" only for the
//                                  processes started with { relay: true } (Redis then only
//                                  relays WebSocket frames between processes).
//   SIO_E2E_PEER=/path/to/server.js the reference Node Socket.IO peer, spawned as
//                                  PORT=PORT HOST=127.0.0.1 node server.js
// Neither set: every test fails (see mode()). Both set: also an error, to avoid
// validating against one server while believing it is the other (likewise SIO_DYNAMODB_URL
// with the peer, which has no store).
const { spawn } = require("node:child_process");
const crypto = require("node:crypto");
const http = require("node:http");
const path = require("node:path");
const fs = require("node:fs");
const { freePort } = require("./net");

const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0";
const READY_TIMEOUT_MS = Number(process.env.SIO_READY_TIMEOUT_MS || 20000);
const LOG_LIMIT = 256 * 1024; // keep the last 256 KiB of each server's output

function mode() {
  const bin = process.env.SIO_LOCAL_BIN;
  const peer = process.env.SIO_E2E_PEER;
  if (bin && peer) {
    throw new Error("e2e: both SIO_LOCAL_BIN and SIO_E2E_PEER are set; set exactly one");
  }
  if (bin) {
    const abs = path.resolve(bin);
    if (!fs.existsSync(abs)) throw new Error(`e2e: SIO_LOCAL_BIN=${bin} does not exist`);
    const redisUrl = process.env.SIO_REDIS_URL || DEFAULT_REDIS_URL;
    const dynamoUrl = process.env.SIO_DYNAMODB_URL;
    if (dynamoUrl) return { kind: "local", store: "dynamodb", bin: abs, dynamoUrl, redisUrl };
    return { kind: "local", store: "redis", bin: abs, redisUrl };
  }
  if (peer) {
    if (process.env.SIO_DYNAMODB_URL) {
      throw new Error("e2e: SIO_DYNAMODB_URL is set but the server under test is the Node peer (SIO_E2E_PEER), which has no store; unset one");
    }
    const abs = path.resolve(peer);
    if (!fs.existsSync(abs)) throw new Error(`e2e: SIO_E2E_PEER=${peer} does not exist`);
    return { kind: "peer", script: abs };
  }
  throw new Error(
    "e2e: no server under test. Set SIO_LOCAL_BIN=/path/to/cmd-local-binary (with " +
      "SIO_REDIS_URL, default " + DEFAULT_REDIS_URL + ", or SIO_DYNAMODB_URL for the DynamoDB store) " +
      "or SIO_E2E_PEER=/path/to/peer/server.js"
  );
}

// True only when the suite runs against the Node reference peer (never throws).
function isPeerMode() {
  return Boolean(process.env.SIO_E2E_PEER) && !process.env.SIO_LOCAL_BIN;
}

// True only when the suite runs our server on DynamoDB (never throws).
function isDynamoMode() {
  return Boolean(process.env.SIO_DYNAMODB_URL && process.env.SIO_LOCAL_BIN && !process.env.SIO_E2E_PEER);
}

// What several processes share, for test names (never throws): "Redis" (also in peer mode,
// where the names are the same as ever), or "one DynamoDB table" (and the Redis relay when
// the test starts its processes with { relay: true }).
function sharedStoreLabel({ relay = false } = {}) {
  if (!isDynamoMode()) return "Redis";
  return relay ? "one DynamoDB table (Redis relaying WebSocket frames)" : "one DynamoDB table";
}

// A DynamoDB table name for one useServers() call: e2e-<test file>-<pid>-<n>-<random>
// (the random part: a pid recurs across runs, and a table of an earlier run may be left).
let tableSeq = 0;
function newTableName() {
  const file = path.basename(process.argv[1] || "e2e").replace(/\.test\.js$/, "").replace(/[^A-Za-z0-9_.-]/g, "-");
  return `e2e-${file}-${process.pid}-${++tableSeq}-${crypto.randomBytes(3).toString("hex")}`;
}

// Deletes a table the server created (best effort, DynamoDB Local on a loopback address
// only: the request is not really signed, which DynamoDB Local does not check). DynamoDB
// Local keeps one database per access key and region, so the request names the ones cmd/local
// uses (AWS_ACCESS_KEY_ID, default "local"; AWS_REGION, default us-east-1). Returns a
// warning string, or "" when the table is gone.
async function deleteTable(endpoint, table) {
  let url;
  try {
    url = new URL(endpoint);
  } catch {
    return `not deleting table ${table}: SIO_DYNAMODB_URL=${endpoint} is not a URL`;
  }
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    return `not deleting table ${table} at ${endpoint} (not a loopback DynamoDB Local)`;
  }
  const body = JSON.stringify({ TableName: table });
  return new Promise((resolve) => {
    const req = http.request(url, {
      method: "POST",
      agent: false,
      timeout: 10000,
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "content-length": Buffer.byteLength(body),
        "x-amz-target": "DynamoDB_20120810.DeleteTable",
        authorization: `AWS4-HMAC-SHA256 Credential=${process.env.AWS_ACCESS_KEY_ID || "local"}/20260101/` +
          `${process.env.AWS_REGION || "us-east-1"}/dynamodb/aws4_request, SignedHeaders=host, Signature=e2e`,
      },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => { text += c; });
      res.on("end", () => resolve(res.statusCode === 200 ? "" : `DeleteTable ${table}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
      res.on("error", (err) => resolve(`DeleteTable ${table}: ${err.message}`));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => resolve(`DeleteTable ${table}: ${err.message}`));
    req.end(body);
  });
}

const running = new Set();

class ServerProcess {
  constructor(name, child, port) {
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.log = "";
    this.exited = null; // {code, signal} once the process is gone
    this.stopping = false;
    const append = (chunk) => {
      this.log += chunk.toString("utf8");
      if (this.log.length > LOG_LIMIT) this.log = "[...]\n" + this.log.slice(-LOG_LIMIT);
    };
    child.stdout.on("data", append);
    child.stderr.on("data", append);
    this.exitPromise = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.exited = { code, signal };
        running.delete(this);
        resolve(this.exited);
      });
    });
    child.on("error", (err) => append(`[e2e] spawn error: ${err.stack || err}\n`));
    running.add(this);
  }

  describeExit() {
    return this.exited ? `exit code ${this.exited.code}, signal ${this.exited.signal}` : "running";
  }

  // Kill by pid: SIGTERM, then SIGKILL if it has not exited after graceMs.
  // Throws if the process had died on its own before we asked it to stop.
  async stop({ graceMs = 5000 } = {}) {
    const diedEarly = this.exited && !this.stopping;
    this.stopping = true;
    if (!this.exited) {
      try { process.kill(this.pid, "SIGTERM"); } catch { /* already gone */ }
      let timer;
      const timeout = new Promise((r) => { timer = setTimeout(r, graceMs, "timeout"); });
      const result = await Promise.race([this.exitPromise, timeout]);
      clearTimeout(timer);
      if (result === "timeout") {
        this.log += `[e2e] ${this.name} did not exit ${graceMs} ms after SIGTERM; sending SIGKILL\n`;
        try { process.kill(this.pid, "SIGKILL"); } catch { /* already gone */ }
        await this.exitPromise;
      }
    }
    if (diedEarly) {
      throw new Error(`${this.name} (pid ${this.pid}) died during the test (${this.describeExit()}); output:\n${this.log}`);
    }
  }
}

function probe(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
      res.on("error", () => resolve(0));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(0));
  });
}

async function waitReady(srv) {
  const url = `${srv.url}/socket.io/?EIO=4&transport=polling`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 0;
  while (Date.now() < deadline) {
    if (srv.exited) return false;
    last = await probe(url);
    if (last === 200) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${srv.name} not ready within ${READY_TIMEOUT_MS} ms (last status ${last || "no answer"}); output:\n${srv.log}`
  );
}

// The command-line flags that choose our server's store.
function storeArgs(m, { table, relay }) {
  if (m.store !== "dynamodb") return ["-redis", m.redisUrl];
  if (!table) throw new Error("e2e: DynamoDB mode needs a table name (startServer(..., { table }))");
  // relay: Redis only relays WebSocket frames between the processes on this table.
  return ["-dynamodb", m.dynamoUrl, "-table", table, ...(relay ? ["-redis", m.redisUrl] : [])];
}

// Our server's environment: ours less every SIO_* variable. cmd/local reads SIO_REDIS_URL,
// SIO_DYNAMODB_ENDPOINT, SIO_POLL_BACKOFF, ... as defaults for its flags; the suite's own
// SIO_REDIS_URL would otherwise give every DynamoDB-mode process a Redis relay. So the
// server's configuration is exactly the flags passed.
function serverEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("SIO_")) env[k] = v;
  return env;
}

function spawnOnce(m, port, name, args, store) {
  let child;
  if (m.kind === "local") {
    child = spawn(m.bin, ["-addr", `127.0.0.1:${port}`, ...storeArgs(m, store), ...args], {
      env: serverEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
  } else {
    child = spawn(process.execPath, [m.script], {
      cwd: path.dirname(m.script),
      env: { ...process.env, PORT: String(port), HOST: "127.0.0.1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
  }
  return new ServerProcess(name, child, port);
}

// Starts one server process and resolves once it answers the readiness probe.
// Retries on a fresh port if the process exits during startup (e.g. the port was taken).
// args: extra command-line flags for our server (SIO_LOCAL_BIN mode only; the peer takes none).
// table (DynamoDB mode): the table, the same for processes that share sessions;
// relay (DynamoDB mode): also -redis "$SIO_REDIS_URL", to relay WebSocket frames between
// processes (needed only when WebSocket connections are held by several processes).
async function startServer(name = "server", { args = [], table = null, relay = false } = {}) {
  const m = mode();
  const where = m.kind !== "local" ? m.kind
    : m.store === "redis" ? "local redis"
      : `local dynamodb table ${table}${relay ? " + redis relay" : ""}`;
  let lastErr;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const label = `${name} [${where} 127.0.0.1:${port}]`;
    const srv = spawnOnce(m, port, label, args, { table, relay });
    try {
      if (await waitReady(srv)) return srv;
      lastErr = new Error(`${label} exited during startup (${srv.describeExit()}); output:\n${srv.log}`);
    } catch (err) {
      srv.stopping = true;
      await srv.stop().catch(() => {});
      throw err;
    }
  }
  throw lastErr;
}

// Output of every server still tracked, for failure reports.
function serverLogs(servers) {
  return servers
    .map((s) => `----- ${s.name} (pid ${s.pid}, ${s.describeExit()}) output -----\n${s.log || "(empty)\n"}`)
    .join("");
}

// Last resort: never leave a server behind if the test process exits abruptly.
process.on("exit", () => {
  for (const s of running) {
    try { process.kill(s.pid, "SIGKILL"); } catch { /* gone */ }
  }
});

module.exports = {
  mode,
  isPeerMode,
  isDynamoMode,
  sharedStoreLabel,
  newTableName,
  deleteTable,
  startServer,
  serverLogs,
  DEFAULT_REDIS_URL,
};
