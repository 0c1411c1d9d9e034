"use strict";
// Plain round-robin HTTP reverse proxy (node:http only): request N goes to upstream
// N mod len(upstreams), with no session stickiness at all. Method, path+query and
// end-to-end headers are forwarded; bodies are streamed both ways; the upstream's
// status and headers are passed back unchanged (hop-by-hop headers excepted).
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
// Resolves to { url, port, counts, log, errors, close() }.
async function startRoundRobinProxy(upstreams) {
  if (!upstreams.length) throw new Error("proxy: no upstreams");
  const targets = upstreams.map((u) => new URL(u));
  // No keep-alive towards the upstreams: a reused idle connection that the upstream
  // has just closed would turn into a spurious 502.
  const agent = new http.Agent({ keepAlive: false });
  const counts = targets.map(() => 0);
  const log = []; // "#seq -> upstream i: METHOD url -> status"
  const errors = [];
  let next = 0;
  let seq = 0;
  const sockets = new Set();

  const server = http.createServer((req, res) => {
    const i = next;
    next = (next + 1) % targets.length;
    counts[i]++;
    const n = ++seq;
    const target = targets[i];
    const entry = { n, upstream: i, method: req.method, url: req.url, status: null };
    log.push(entry);
    if (log.length > 2000) log.shift();

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
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

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
    errors,
    describe() {
      const tail = log.slice(-60).map((e) => `#${e.n} -> upstream ${e.upstream}: ${e.method} ${e.url} -> ${e.status}`);
      return `proxy requests per upstream: [${counts.join(", ")}]; errors: ${errors.length ? errors.join("; ") : "none"}\n` +
        `last requests:\n${tail.join("\n")}\n`;
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
