package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// StepError is a failed step of an operation: a transport error or a response that failed a check.
type StepError struct {
	Step   string // e.g. "tools/call", "token", "register"
	Status int    // the HTTP status, 0 when no response came
	Reason string
	Body   string // the start of the response body, for the sample
}

func (e *StepError) Error() string {
	s := e.Step + ": "
	if e.Status != 0 {
		s += "HTTP " + strconv.Itoa(e.Status) + ": "
	}
	s += e.Reason
	if e.Body != "" {
		s += " — " + e.Body
	}
	return s
}

// Kind groups errors for the summary: the step, the status and the reason without the body.
func (e *StepError) Kind() string {
	r := e.Reason
	if len(r) > 80 {
		r = r[:80] + "…"
	}
	if e.Status != 0 {
		return fmt.Sprintf("%s: HTTP %d: %s", e.Step, e.Status, r)
	}
	return e.Step + ": " + r
}

func stepErr(step string, status int, body []byte, format string, args ...any) *StepError {
	b := strings.ReplaceAll(string(body), "\n", `\n`)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return &StepError{Step: step, Status: status, Reason: fmt.Sprintf(format, args...), Body: b}
}

// Client is one simulated MCP client: an HTTP client that counts what it sends and gets into a worker's tally.
type Client struct {
	hc      *http.Client
	cfg     *Config
	stats   *workerStats
	timeout time.Duration
	buf     bytes.Buffer  // the last response's body (reused: a response's body is valid until the next request)
	left    *atomic.Int64 // operations the run has left to do (Config.MaxOps), or nil
}

// NewClient returns a client for cfg (for tests and one-off handshakes; Run makes its own).
func NewClient(cfg Config) *Client {
	cfg.defaults()
	return &Client{hc: cfg.httpClient(), cfg: &cfg, stats: newWorkerStats(), timeout: cfg.Timeout}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request and reads the whole response.
func (c *Client) do(ctx context.Context, step, method, target string, header http.Header, body []byte) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, stepErr(step, 0, nil, "bad request: %v", err)
	}
	if len(c.cfg.Header) == 0 && header != nil {
		req.Header = header // not modified by the client; saves a copy per request
	} else {
		for k, v := range c.cfg.Header {
			if strings.EqualFold(k, "Host") {
				req.Host = v[0]
				continue
			}
			req.Header[k] = v
		}
		for k, v := range header {
			req.Header[k] = v
		}
	}
	c.stats.sent++
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, stepErr(step, 0, nil, "%v", err)
	}
	defer resp.Body.Close()
	c.stats.answered++
	c.stats.status[resp.StatusCode]++
	c.buf.Reset()
	_, err = c.buf.ReadFrom(resp.Body)
	b := c.buf.Bytes()
	if err != nil {
		return nil, stepErr(step, resp.StatusCode, b, "reading the body: %v", err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// rpcMessage is a JSON-RPC 2.0 response.
type rpcMessage struct {
	rpcMessageHead
	Result json.RawMessage `json:"result"`
}

// rpcResult checks a JSON-RPC answer to the request with id: HTTP 200, a JSON body or an SSE stream holding the
// response, "jsonrpc":"2.0", the same id, a result and no error. It returns the result.
func rpcResult(step string, r *response, id int) (json.RawMessage, error) {
	var m rpcMessage
	if err := rpcAnswer(step, r, id, &m, func() bool { return len(m.Result) > 0 && string(m.Result) != "null" }); err != nil {
		return nil, err
	}
	return m.Result, nil
}

// rpcHead is the part of a JSON-RPC message every check reads; rpcAnswer decodes into a struct embedding it.
type rpcHead interface{ head() *rpcMessageHead }

type rpcMessageHead struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (h *rpcMessageHead) head() *rpcMessageHead { return h }

// rpcAnswer checks a JSON-RPC answer to the request with id (see rpcResult), decoding each message into m in one
// pass (m's result field typed as the caller needs: one decode per response keeps the load generator light);
// hasResult reports whether the decoded message carried a result.
func rpcAnswer(step string, r *response, id int, m rpcHead, hasResult func() bool) error {
	if r.status != http.StatusOK {
		return stepErr(step, r.status, r.body, "want 200")
	}
	var idBuf [20]byte
	want := strconv.AppendInt(idBuf[:0], int64(id), 10)
	var msgs [][]byte
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	switch mt {
	case "application/json":
		msgs = [][]byte{r.body}
	case "text/event-stream":
		msgs = sseData(r.body)
	default:
		return stepErr(step, r.status, r.body, "Content-Type %q, want application/json or text/event-stream", r.header.Get("Content-Type"))
	}
	for _, data := range msgs {
		h := m.head()
		*h = rpcMessageHead{}
		if err := json.Unmarshal(data, m); err != nil {
			return stepErr(step, r.status, r.body, "not a JSON-RPC message: %v", err)
		}
		if h.Method != "" {
			continue // a notification or request from the server before the answer
		}
		switch {
		case h.JSONRPC != "2.0":
			return stepErr(step, r.status, r.body, `"jsonrpc" is %q, want "2.0"`, h.JSONRPC)
		case !bytes.Equal(h.ID, want):
			return stepErr(step, r.status, r.body, "id %s, want %s", h.ID, want)
		case h.Error != nil:
			return stepErr(step, r.status, r.body, "JSON-RPC error %d: %s", h.Error.Code, h.Error.Message)
		case !hasResult():
			return stepErr(step, r.status, r.body, "no result")
		}
		return nil
	}
	return stepErr(step, r.status, r.body, "no JSON-RPC response with id %s", want)
}

// sseData returns the data of each event in an event stream (lines end in LF, CRLF or CR; "data:" lines join
// with LF; an event without data, such as the SDK's priming event, is skipped).
func sseData(body []byte) [][]byte {
	var out [][]byte
	var cur []byte
	has := false
	for len(body) > 0 {
		i := bytes.IndexAny(body, "\r\n")
		var line []byte
		if i < 0 {
			line, body = body, nil
		} else {
			line = body[:i]
			if body[i] == '\r' && i+1 < len(body) && body[i+1] == '\n' {
				i++
			}
			body = body[i+1:]
		}
		if len(line) == 0 {
			if has && len(cur) > 0 {
				out = append(out, cur)
			}
			cur, has = nil, false
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			v = bytes.TrimPrefix(v, []byte(" "))
			if has {
				cur = append(cur, '\n')
			}
			cur = append(cur, v...)
			has = true
		}
	}
	if has && len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// expectStatus checks the status of a response that carries no JSON-RPC answer.
func expectStatus(step string, r *response, want ...int) error {
	for _, w := range want {
		if r.status == w {
			return nil
		}
	}
	return stepErr(step, r.status, r.body, "want HTTP %v", want)
}

// jsonBody decodes a JSON response body into v after checking its status and Content-Type.
func jsonBody(step string, r *response, status int, v any) error {
	if r.status != status {
		return stepErr(step, r.status, r.body, "want %d", status)
	}
	if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "application/json" {
		return stepErr(step, r.status, r.body, "Content-Type %q, want application/json", r.header.Get("Content-Type"))
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return stepErr(step, r.status, r.body, "not JSON: %v", err)
	}
	return nil
}

// callResult is a CallToolResult of the echo tool.
type callResult struct {
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	IsError bool `json:"isError"`
}

// callMessage is a JSON-RPC response carrying a CallToolResult, decoded in one pass.
type callMessage struct {
	rpcMessageHead
	Result *callResult `json:"result"`
}

// checkToolAnswer checks a tools/call result of the echo tool: one text content equal to what was sent.
func checkToolAnswer(step string, r *response, res *callResult, want string) error {
	switch {
	case res.IsError:
		return stepErr(step, r.status, r.body, "the tool answered isError")
	case len(res.Content) == 0 || res.Content[0].Type != "text":
		return stepErr(step, r.status, r.body, "no text content")
	case res.Content[0].Text != want:
		return stepErr(step, r.status, r.body, "the tool answered %q, want %q", res.Content[0].Text, want)
	}
	return nil
}

// endpoint resolves ref against the base URL.
func resolve(base *url.URL, ref string) (string, error) {
	u, err := base.Parse(ref)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("not an http(s) URL: " + ref)
	}
	return u.String(), nil
}

// Tally returns the requests this client sent and the responses it received so far.
func (c *Client) Tally() (sent, answered uint64) { return c.stats.sent, c.stats.answered }
