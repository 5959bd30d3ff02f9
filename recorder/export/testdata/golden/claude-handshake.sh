#!/usr/bin/env bash
# Replays an mcpwatch capture with curl: 19 requests (and 1 outbound request mcpwatch made itself, as comments).
# Recorded 2026-07-28 10:00:00 UTC to 10:00:19 UTC; written by mcpwatch dev.
# Secrets are redacted ([REDACTED]): requests that carried them will be refused. Export with
# --no-redact to replay them as they were.
# Headers a tunnel adds (X-Forwarded-*, Cf-*, Cdn-Loop) are left out: it adds them again.

# 1. challenge — POST /mcp (initialize) → 401
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Accept: application/json, text/event-stream' \
  -H 'Content-Type: application/json' \
  --data-raw '{"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-ai","version":"0.1.0"}},"jsonrpc":"2.0","id":0}'
echo

# 2. challenge — GET /mcp → 401
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Accept: text/event-stream'
echo

# 3. resource-metadata — GET /.well-known/oauth-protected-resource/mcp → 200
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/.well-known/oauth-protected-resource/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Accept: application/json'
echo

# 4. auth-metadata — GET /.well-known/oauth-authorization-server → 200
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/.well-known/oauth-authorization-server' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Accept: application/json'
echo

# 5. register — POST /register → 201
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/register' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Content-Type: application/json' \
  -H 'Accept:' \
  --data-raw '{"client_name":"claudeai","grant_types":["authorization_code","refresh_token"],"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"response_types":["code"],"scope":"claudeai","token_endpoint_auth_method":"none"}'
echo

# 6. authorize — GET /authorize?response_type=code&client_id=client-claude-0001&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=st4te-value-0123&scope=claudeai&resource=https%3A%2F%2Fgarbage-actress-light-legislature.trycloudflare.com%2Fmcp → 200
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/authorize?response_type=code&client_id=client-claude-0001&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=st4te-value-0123&scope=claudeai&resource=https%3A%2F%2Fgarbage-actress-light-legislature.trycloudflare.com%2Fmcp' \
  -H 'User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36' \
  -H 'Accept: text/html' \
  -H 'Referer: https://claude.ai/'
echo

# 7. consent — POST /authorize → 302
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/authorize' \
  -H 'User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36' \
  -H 'Content-Type: application/x-www-form-urlencoded' \
  -H 'Cookie: mcpwatch_consent=[REDACTED]; theme=[REDACTED]' \
  -H 'Origin: https://garbage-actress-light-legislature.trycloudflare.com' \
  -H 'Accept:' \
  --data-raw 'csrf_token=%5BREDACTED%5D&state=st4te-value-0123&decision=allow&response_type=code&client_id=client-claude-0001&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=st4te-value-0123&scope=claudeai&resource=https%3A%2F%2Fgarbage-actress-light-legislature.trycloudflare.com%2Fmcp'
echo

# 8. token — POST /token → 200
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/token' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Content-Type: application/x-www-form-urlencoded' \
  -H 'Accept:' \
  --data-raw 'grant_type=authorization_code&code=%5BREDACTED%5D&code_verifier=%5BREDACTED%5D&client_id=client-claude-0001&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback&resource=https%3A%2F%2Fgarbage-actress-light-legislature.trycloudflare.com%2Fmcp'
echo

# 9. initialize — POST /mcp (initialize) → 200
curl -sS -i --globoff -N 'https://garbage-actress-light-legislature.trycloudflare.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Accept: application/json, text/event-stream' \
  -H 'Authorization: Bearer [REDACTED]' \
  -H 'Content-Type: application/json' \
  --data-raw '{"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-ai","version":"0.1.0"}},"jsonrpc":"2.0","id":0}'
echo

# 10. initialized — POST /mcp (notifications/initialized) → 202
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Authorization: Bearer [REDACTED]' \
  -H 'Mcp-Session-Id: 5THH7ZASVVE65BFDLUNDI4LJA2' \
  -H 'Mcp-Protocol-Version: 2025-06-18' \
  -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' \
  --data-raw '{"jsonrpc":"2.0","method":"notifications/initialized"}'
echo

# 11. list — POST /mcp (tools/list) → 200
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Authorization: Bearer [REDACTED]' \
  -H 'Mcp-Session-Id: 5THH7ZASVVE65BFDLUNDI4LJA2' \
  -H 'Mcp-Protocol-Version: 2025-06-18' \
  -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' \
  --data-raw '{"id":1,"jsonrpc":"2.0","method":"tools/list","params":{}}'
echo

# 12. call — POST /mcp (tools/call) → 200
curl -sS -i --globoff -N 'https://garbage-actress-light-legislature.trycloudflare.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Authorization: Bearer [REDACTED]' \
  -H 'Mcp-Session-Id: 5THH7ZASVVE65BFDLUNDI4LJA2' \
  -H 'Mcp-Protocol-Version: 2025-06-18' \
  -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' \
  --data-raw '{"id":2,"jsonrpc":"2.0","method":"tools/call","params":{"name":"best_person_looker_upper","arguments":{"startsWith":"blah"},"_meta":{"progressToken":"p1"}}}'
echo

# 13. call — POST /mcp (tools/call) → 200
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Authorization: Bearer [REDACTED]' \
  -H 'Mcp-Session-Id: 5THH7ZASVVE65BFDLUNDI4LJA2' \
  -H 'Mcp-Protocol-Version: 2025-06-18' \
  -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' \
  --data-raw '{"id":3,"jsonrpc":"2.0","method":"tools/call","params":{"name":"run","arguments":{"code":"print(1)"}}}'
echo

# 14. stream — GET /mcp → 200
curl -sS -i --globoff -N --max-time 10 'https://garbage-actress-light-legislature.trycloudflare.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Accept: text/event-stream' \
  -H 'Authorization: Bearer [REDACTED]' \
  -H 'Mcp-Session-Id: 5THH7ZASVVE65BFDLUNDI4LJA2'
echo

# 15. refresh — POST /token → 200
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/token' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Content-Type: application/x-www-form-urlencoded' \
  -H 'Accept:' \
  --data-raw 'grant_type=refresh_token&refresh_token=%5BREDACTED%5D&client_id=client-claude-0001'
echo

# 16. revoke — POST /revoke → 200
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/revoke' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Content-Type: application/x-www-form-urlencoded' \
  -H 'Accept:' \
  --data-raw 'token=%5BREDACTED%5D&token_type_hint=access_token&client_id=client-claude-0001'
echo

# 17. client-metadata — GET /oauth/client-metadata.json → 200 (outbound: mcpwatch made this request itself; not replayed)
#   curl -sS -i --globoff 'https://app.example.com/oauth/client-metadata.json' \
#     -H 'Accept: application/json' \
#     -H 'User-Agent: mcpwatch/dev'

# 18. other — PUT /upload?name=logo.png → 200
base64 -d <<'MCPWATCH_BODY_18' | curl -sS -i --globoff -X 'PUT' 'https://garbage-actress-light-legislature.trycloudflare.com/upload?name=logo.png' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Content-Type: image/png' \
  -H 'Accept:' \
  --data-binary @-
iVBORw0KGgoAAAAN//4=
MCPWATCH_BODY_18
echo

# 19. other — POST /mcp (ping) → client went away before a response
curl -sS -i --globoff 'https://garbage-actress-light-legislature.trycloudflare.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Authorization: Bearer [REDACTED]' \
  -H 'Mcp-Session-Id: 5THH7ZASVVE65BFDLUNDI4LJA2' \
  -H 'Mcp-Protocol-Version: 2025-06-18' \
  -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' \
  --data-raw '{"id":4,"jsonrpc":"2.0","method":"ping"}'
echo

# 20. terminate — DELETE /mcp → 200
curl -sS -i --globoff -X 'DELETE' 'https://garbage-actress-light-legislature.trycloudflare.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Accept-Encoding: gzip' \
  -H 'Authorization: Bearer [REDACTED]' \
  -H 'Mcp-Session-Id: 5THH7ZASVVE65BFDLUNDI4LJA2' \
  -H 'Accept:'
echo
