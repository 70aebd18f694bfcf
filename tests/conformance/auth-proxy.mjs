// A reverse proxy for the conformance run: the suites cannot send an Authorization header, and
// odoo-warden refuses /mcp without a key. This adds `Authorization: Bearer <key>` to every
// request and forwards everything else untouched (Host and Origin included, so odoo-warden's
// DNS-rebinding checks still see what the suite sent; odoo-warden's public_url is this proxy).
//
//   node auth-proxy.mjs TARGET_FILE TOKEN_FILE   (prints "listening on http://127.0.0.1:PORT/mcp")
//
// TARGET_FILE holds odoo-warden's URL and TOKEN_FILE an MCP key; both are read at the first
// request, so the proxy can start first and its port go into odoo-warden's config.
import fs from "node:fs";
import http from "node:http";

const [, , targetFile, tokenFile] = process.argv;
if (!targetFile || !tokenFile) {
  console.error("usage: node auth-proxy.mjs TARGET_FILE TOKEN_FILE");
  process.exit(2);
}
let target = null;
let token = null;
const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((req, res) => {
  try {
    target ??= new URL(fs.readFileSync(targetFile, "utf8").trim());
    token ??= fs.readFileSync(tokenFile, "utf8").trim();
  } catch (e) {
    res.writeHead(502).end(`proxy: no target yet (${e.message})`);
    return;
  }
  const headers = { ...req.headers, authorization: `Bearer ${token}` };
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on("error", (e) => {
    if (!res.headersSent) res.writeHead(502);
    res.end(`proxy: ${e.message}`);
  });
  req.pipe(upstream);
});
server.listen(0, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/mcp`);
});
