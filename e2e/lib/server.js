"use strict";
// Launches the server under test, chosen by environment:
//   SIO_LOCAL_BIN=/path/to/binary  our Go server (cmd/local), spawned as
//                                  <bin> -addr 127.0.0.1:PORT -redis "$SIO_REDIS_URL" [flags]
//   SIO_E2E_PEER=/path/to/server.js the reference Node Socket.IO peer, spawned as
//                                  PORT=PORT HOST=127.0.0.1 node server.js
// Neither set: every test fails (see mode()). Both set: also an error, to avoid
// validating against one server while believing it is the other.
const { spawn } = require("node:child_process");
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
    return { kind: "local", bin: abs, redisUrl: process.env.SIO_REDIS_URL || DEFAULT_REDIS_URL };
  }
  if (peer) {
    const abs = path.resolve(peer);
    if (!fs.existsSync(abs)) throw new Error(`e2e: SIO_E2E_PEER=${peer} does not exist`);
    return { kind: "peer", script: abs };
  }
  throw new Error(
    "e2e: no server under test. Set SIO_LOCAL_BIN=/path/to/cmd-local-binary (with " +
      "SIO_REDIS_URL, default " + DEFAULT_REDIS_URL + ") or SIO_E2E_PEER=/path/to/peer/server.js"
  );
}

// True only when the suite runs against the Node reference peer (never throws).
function isPeerMode() {
  return Boolean(process.env.SIO_E2E_PEER) && !process.env.SIO_LOCAL_BIN;
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

function spawnOnce(m, port, name, args) {
  let child;
  if (m.kind === "local") {
    child = spawn(m.bin, ["-addr", `127.0.0.1:${port}`, "-redis", m.redisUrl, ...args], {
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
async function startServer(name = "server", { args = [] } = {}) {
  const m = mode();
  let lastErr;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const label = `${name} [${m.kind} 127.0.0.1:${port}]`;
    const srv = spawnOnce(m, port, label, args);
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

module.exports = { mode, isPeerMode, startServer, serverLogs, DEFAULT_REDIS_URL };
