"use strict";
// Per-file test harness:
//   const env = useServers(2);            // before(): start 2 server processes; after(): kill them
//                                         // (useServers(1, { args: [...] }): extra flags for cmd/local;
//                                         // DynamoDB mode: all processes of one call share one table,
//                                         // deleted afterwards; { relay: true } adds the Redis relay)
//   sioTest(env, "name", async (h) => {   // h.client(url, nsp, name, opts) -> connected-later Client,
//     ...                                 // disconnected automatically when the test ends;
//   });                                   // server output is printed if the test fails.
const { test, before, after } = require("node:test");
const { startServer, serverLogs, isDynamoMode, newTableName, deleteTable, mode } = require("./server");
const { Client, describeErr, WAIT_MS } = require("./client");

// Per test; 40 s in DynamoDB mode, where the slowest test (a 300-frame WebSocket burst) takes
// up to about 15 s instead of 2 s (see WAIT_MS in client.js).
const TEST_TIMEOUT_MS = Number(process.env.SIO_E2E_TEST_TIMEOUT_MS || (isDynamoMode() ? 40000 : 20000));
// Quiet period after the expected events arrived, to catch late duplicates or extras. On
// DynamoDB a held poll only sees a new message at its next read of the table (at most
// cmd/local's -poll-backoff, 1 s, apart), so a late duplicate for an idle polling client can
// take about a second to show: the quiet period is 2 s there.
const SETTLE_MS = Number(process.env.SIO_E2E_SETTLE_MS || (isDynamoMode() ? 2000 : 1000));
// Lets the clients' disconnect/close packets reach the server before it is killed.
const CLOSE_GRACE_MS = 300;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls predicate() every 20 ms; rejects after timeoutMs with `what` in the message.
async function waitFor(predicate, what, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// relay: in DynamoDB mode, also give the processes the Redis relay (-redis "$SIO_REDIS_URL")
// so that WebSocket frames reach connections held by another process; only for tests whose
// WebSocket connections are spread over several processes. Ignored in Redis and peer modes.
function useServers(count = 1, { args = [], relay = false } = {}) {
  const env = { servers: [], table: isDynamoMode() ? newTableName() : null };
  before(async () => {
    for (let i = 0; i < count; i++) {
      env.servers.push(await startServer(count > 1 ? `server${i + 1}` : "server", { args, table: env.table, relay }));
    }
  }, { timeout: 90000 });
  after(async () => {
    const errors = [];
    for (const s of env.servers) {
      try { await s.stop(); } catch (err) { errors.push(err); }
    }
    if (env.table && env.servers.length && process.env.SIO_E2E_KEEP_TABLES !== "1") {
      const warning = await deleteTable(mode().dynamoUrl, env.table);
      if (warning) process.stderr.write(`e2e: warning: ${warning}\n`);
    }
    if (errors.length) throw errors[0];
  }, { timeout: 30000 });
  return env;
}

class Helper {
  constructor(env) {
    this.env = env;
    this.clients = [];
    this.failureInfo = [];
  }

  // A recording client (not yet connected: call .connect()). opts: socket.io-client
  // options over the defaults, e.g. { transports: ["websocket"] }.
  client(baseUrl, nsp, name, opts) {
    const c = new Client(baseUrl, nsp, name || `client${this.clients.length + 1}`, opts);
    this.clients.push(c);
    return c;
  }

  // Connects a new /chat client and waits for its welcome.
  async chatClient(baseUrl, name, opts) {
    const c = this.client(baseUrl, "/chat", name, opts);
    try {
      await c.connect();
    } catch (err) {
      throw new Error(`${c.name}: could not connect to ${c.url}: ${describeErr(err)}`);
    }
    await c.waitForWelcome();
    return c;
  }

  // Extra text printed with the server output if the test fails.
  onFailure(fn) {
    this.failureInfo.push(fn);
  }

  async closeAll() {
    const connected = this.clients.filter((c) => c.socket.connected || c.socket.active);
    for (const c of this.clients) {
      try { c.close(); } catch { /* ignore */ }
    }
    if (connected.length) await sleep(CLOSE_GRACE_MS);
  }
}

function sioTest(env, name, opts, fn) {
  if (typeof opts === "function") {
    fn = opts;
    opts = {};
  }
  // node:test's own timeout is only a backstop; ours fires first so that the clients
  // are cleaned up and the server output is shown.
  return test(name, { ...opts, timeout: TEST_TIMEOUT_MS + 15000 }, async (t) => {
    const h = new Helper(env);
    let timer;
    try {
      await Promise.race([
        fn(h, t),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`test exceeded ${TEST_TIMEOUT_MS} ms`)), TEST_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      let report = "";
      for (const info of h.failureInfo) {
        try { report += info(); } catch (e) { report += `(failure info error: ${e.message})\n`; }
      }
      report += h.clients.map((c) => `  ${c.summary()}${c.disconnectReason ? `, disconnect: ${c.disconnectReason}` : ""}`).slice(0, 10).join("\n") + "\n";
      report += serverLogs(env.servers);
      let attached = false;
      if (err && typeof err.message === "string") {
        try {
          err.message += `\n${report}`;
          attached = true;
        } catch { /* read-only message */ }
      }
      if (!attached) process.stderr.write(`\n===== e2e failure in "${name}": ${err}\n${report}=====\n`);
      throw err;
    } finally {
      clearTimeout(timer);
      await h.closeAll();
    }
  });
}

module.exports = { useServers, sioTest, sleep, waitFor, SETTLE_MS, TEST_TIMEOUT_MS };
