"use strict";
// Plain round-robin HTTP reverse proxy (node:http only): request N goes to upstream
// N mod len(upstreams), with no session stickiness at all. Method, path+query and
// end-to-end headers are forwarded; bodies are streamed both ways; the upstream's
// status and headers are passed back unchanged (hop-by-hop headers excepted).
//
// WebSocket: an Upgrade request takes the next upstream in the same round-robin as any
// other request; it is forwarded with its Upgrade/Connection and Sec-WebSocket-* headers,
// the upstream's 101 answer is relayed verbatim and then the two TCP sockets are piped
// both ways until either side closes. A non-101 answer is relayed as a plain response.
// With { holdUpgrades: true } upgrade requests are accepted but not forwarded until
// releaseUpgrades() is called (so a test can chat over polling while an upgrade is pending).
const http = require("node:http");

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

function endToEnd(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(k.toLowerCase())) out[k] = v;
  }
  return out;
}

// upstreams: array of base URLs such as "http://127.0.0.1:4001".
// Resolves to { url, port, counts, log, upgrades, errors, heldUpgrades(), releaseUpgrades(),
// describe(), close() }. upgrades: one entry per WebSocket upgrade request, in arrival order,
// with the upstream it went to and the upstream's status (101 when it was accepted).
async function startRoundRobinProxy(upstreams, { holdUpgrades = false } = {}) {
  if (!upstreams.length) throw new Error("proxy: no upstreams");
  const targets = upstreams.map((u) => new URL(u));
  // No keep-alive towards the upstreams: a reused idle connection that the upstream
  // has just closed would turn into a spurious 502.
  const agent = new http.Agent({ keepAlive: false });
  const counts = targets.map(() => 0);
  const log = []; // "#seq -> upstream i: METHOD url -> status"
  const upgrades = []; // the log entries of the WebSocket upgrade requests
  const errors = [];
  let next = 0;
  let seq = 0;
  const sockets = new Set(); // client-side and upstream-side sockets, destroyed by close()
  let held = []; // upgrade requests waiting for releaseUpgrades()
  let holding = holdUpgrades;

  // Picks the next upstream (shared round-robin for plain and upgrade requests) and logs it.
  const route = (req, upgrade) => {
    const i = next;
    next = (next + 1) % targets.length;
    counts[i]++;
    const entry = { n: ++seq, upstream: i, method: req.method, url: req.url, status: null, upgrade };
    log.push(entry);
    if (log.length > 2000) log.shift();
    if (upgrade) upgrades.push(entry);
    return entry;
  };

  const server = http.createServer((req, res) => {
    const entry = route(req, false);
    const { n, upstream: i } = entry;
    const target = targets[i];

    const upstreamReq = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url, // path and query string, verbatim
        headers: endToEnd(req.headers),
        agent,
      },
      (upstreamRes) => {
        entry.status = upstreamRes.statusCode;
        res.writeHead(upstreamRes.statusCode, upstreamRes.statusMessage, endToEnd(upstreamRes.headers));
        upstreamRes.pipe(res);
        upstreamRes.on("error", (err) => res.destroy(err));
      }
    );
    upstreamReq.on("error", (err) => {
      errors.push(`#${n} upstream ${i} ${req.method} ${req.url}: ${err.message}`);
      if (!res.headersSent) {
        entry.status = 502;
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`proxy: upstream ${i} error: ${err.message}`);
      } else {
        res.destroy(err);
      }
    });
    // The client went away before the response was complete: abort the upstream call.
    res.on("close", () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  });
  const track = (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  };
  server.on("connection", track);

  // WebSocket (or any Upgrade) request: node:http hands over the raw client socket.
  server.on("upgrade", (req, clientSocket, head) => {
    clientSocket.on("error", () => {}); // a reset during teardown is not a proxy error
    const entry = route(req, true);
    const forward = () => forwardUpgrade(req, clientSocket, head, entry);
    if (holding) held.push(forward);
    else forward();
  });

  const forwardUpgrade = (req, clientSocket, head, entry) => {
    const { n, upstream: i } = entry;
    const target = targets[i];
    const fail = (what, err) => {
      errors.push(`#${n} upstream ${i} upgrade ${req.url}: ${what}${err ? `: ${err.message}` : ""}`);
    };
    if (clientSocket.destroyed) {
      fail("client went away before the upgrade was forwarded");
      return;
    }
    const upstreamReq = http.request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      // Hop-by-hop headers are dropped as usual, except the two that ask for the upgrade.
      headers: { ...endToEnd(req.headers), connection: "Upgrade", upgrade: req.headers.upgrade },
      agent: false,
    });
    upstreamReq.on("upgrade", (upstreamRes, upstreamSocket, upstreamHead) => {
      entry.status = upstreamRes.statusCode;
      track(upstreamSocket);
      upstreamSocket.on("error", () => {});
      if (clientSocket.destroyed) {
        upstreamSocket.destroy();
        return;
      }
      let head101 = `HTTP/1.1 ${upstreamRes.statusCode} ${upstreamRes.statusMessage}\r\n`;
      for (let k = 0; k < upstreamRes.rawHeaders.length; k += 2) {
        head101 += `${upstreamRes.rawHeaders[k]}: ${upstreamRes.rawHeaders[k + 1]}\r\n`;
      }
      clientSocket.write(head101 + "\r\n");
      if (upstreamHead && upstreamHead.length) clientSocket.write(upstreamHead);
      if (head && head.length) upstreamSocket.write(head);
      upstreamSocket.pipe(clientSocket);
      clientSocket.pipe(upstreamSocket);
      // Either side closing (or resetting) ends the other.
      upstreamSocket.on("close", () => clientSocket.destroy());
      clientSocket.on("close", () => upstreamSocket.destroy());
    });
    // The upstream refused the upgrade: relay its answer as a plain response and close.
    upstreamReq.on("response", (upstreamRes) => {
      entry.status = upstreamRes.statusCode;
      const chunks = [];
      upstreamRes.on("data", (c) => chunks.push(c));
      upstreamRes.on("end", () => {
        const body = Buffer.concat(chunks);
        let out = `HTTP/1.1 ${upstreamRes.statusCode} ${upstreamRes.statusMessage}\r\n`;
        for (const [k, v] of Object.entries(endToEnd(upstreamRes.headers))) {
          if (k.toLowerCase() === "content-length") continue;
          for (const one of [].concat(v)) out += `${k}: ${one}\r\n`;
        }
        out += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
        clientSocket.end(Buffer.concat([Buffer.from(out, "latin1"), body]));
      });
    });
    upstreamReq.on("error", (err) => {
      fail("upstream error", err);
      if (entry.status === null) {
        entry.status = 502;
        const msg = `proxy: upstream ${i} error: ${err.message}`;
        clientSocket.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(msg)}\r\nconnection: close\r\n\r\n${msg}`);
      } else {
        clientSocket.destroy();
      }
    });
    clientSocket.on("close", () => {
      if (entry.status === null) upstreamReq.destroy();
    });
    upstreamReq.end();
  };

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    counts,
    log,
    upgrades,
    errors,
    // Number of upgrade requests received and not yet forwarded.
    heldUpgrades() {
      return held.length;
    },
    // Forwards the held upgrade requests, and every later one at once.
    releaseUpgrades() {
      holding = false;
      const pending = held;
      held = [];
      for (const forward of pending) forward();
    },
    describe() {
      const line = (e) => `#${e.n} -> upstream ${e.upstream}: ${e.upgrade ? "UPGRADE " : ""}${e.method} ${e.url} -> ${e.status}`;
      return `proxy requests per upstream: [${counts.join(", ")}]; upgrades: ${upgrades.map((e) => `#${e.n}->${e.upstream}:${e.status}`).join(" ") || "none"}` +
        `${holding ? ` (holding ${held.length})` : ""}; errors: ${errors.length ? errors.join("; ") : "none"}\n` +
        `last requests:\n${log.slice(-60).map(line).join("\n")}\n`;
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        agent.destroy();
      });
    },
  };
}

module.exports = { startRoundRobinProxy };
