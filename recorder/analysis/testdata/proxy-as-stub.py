import json, sys, http.server, threading
mcp_port, as_port = int(sys.argv[1]), int(sys.argv[2])
iss = f"http://localhost:{as_port}/realms/mcp"
class MCP(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/.well-known/oauth-protected-resource"):
            b = json.dumps({"resource": f"http://localhost:{mcp_port}/mcp", "authorization_servers": [iss], "scopes_supported": ["mcp"]}).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
        else:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0)); self.rfile.read(n)
        self.send_response(401); self.send_header("WWW-Authenticate", f'Bearer resource_metadata="http://localhost:{mcp_port}/.well-known/oauth-protected-resource/mcp", scope="mcp"'); self.send_header("Content-Length", "0"); self.end_headers()
class AS(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path in ("/.well-known/oauth-authorization-server/realms/mcp", "/realms/mcp/.well-known/openid-configuration"):
            md = {"issuer": iss, "authorization_endpoint": iss + "/protocol/openid-connect/auth", "token_endpoint": iss + "/protocol/openid-connect/token",
                  "registration_endpoint": iss + "/clients-registrations/openid-connect", "code_challenge_methods_supported": ["S256"],
                  "response_types_supported": ["code"], "grant_types_supported": ["authorization_code", "refresh_token"],
                  "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"]}
            b = json.dumps(md).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
        elif self.path.startswith("/realms/mcp/protocol/openid-connect/auth"):
            b = ('<!doctype html><html><body><div id="app"></div><script>var host = "localhost:%d"; location.href = "http://" + host + "/realms/mcp/login-actions/authenticate";</script></body></html>' % as_port).encode()
            self.send_response(200); self.send_header("Content-Type", "text/html; charset=utf-8"); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
        else:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0)); self.rfile.read(n)
        b = json.dumps({"error": "invalid_client_metadata", "error_description": "Unsupported grant type urn:ietf:params:oauth:grant-type:jwt-bearer for a public client"}).encode()
        self.send_response(400); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
a = http.server.ThreadingHTTPServer(("127.0.0.1", as_port), AS)
threading.Thread(target=a.serve_forever, daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", mcp_port), MCP).serve_forever()
