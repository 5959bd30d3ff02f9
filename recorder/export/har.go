package export

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// The HAR 1.2 types (http://www.softwareishard.com/blog/har-12-spec/), written here rather than borrowed:
// cdproto's marshal body text as base64 without saying so, martian's are unmaintained. Custom fields start with
// an underscore, as the spec asks.

type harFile struct {
	Log harLog `json:"log"`
}

type harLog struct {
	Version     string                 `json:"version"`
	Creator     harCreator             `json:"creator"`
	Pages       []harPage              `json:"pages,omitempty"`
	Entries     []harEntry             `json:"entries"`
	Comment     string                 `json:"comment,omitempty"`
	Redacted    bool                   `json:"_redacted"`
	Connections []*analysis.Connection `json:"_connections,omitempty"`
	Findings    []analysis.Finding     `json:"_findings,omitempty"`
}

type harCreator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Comment string `json:"comment,omitempty"`
}

type harPage struct {
	StartedDateTime string         `json:"startedDateTime"`
	ID              string         `json:"id"`
	Title           string         `json:"title"`
	PageTimings     harPageTimings `json:"pageTimings"`
	Comment         string         `json:"comment,omitempty"`
}

type harPageTimings struct {
	OnContentLoad float64 `json:"onContentLoad"`
	OnLoad        float64 `json:"onLoad"`
}

type harEntry struct {
	Pageref         string      `json:"pageref,omitempty"`
	StartedDateTime string      `json:"startedDateTime"`
	Time            float64     `json:"time"`
	Request         harRequest  `json:"request"`
	Response        harResponse `json:"response"`
	Cache           struct{}    `json:"cache"`
	Timings         harTimings  `json:"timings"`
	ServerIPAddress string      `json:"serverIPAddress,omitempty"`
	Comment         string      `json:"comment,omitempty"`

	// mcpwatch's fields.
	ID           uint64                  `json:"_id"`
	Kind         string                  `json:"_kind"` // inbound (a client's request) or outbound (mcpwatch's own)
	Stage        string                  `json:"_stage"`
	Client       string                  `json:"_client,omitempty"`
	Connection   string                  `json:"_connection,omitempty"`
	ResourceType string                  `json:"_resourceType"` // what Chrome's DevTools files the entry under
	RemoteAddr   string                  `json:"_remoteAddr,omitempty"`
	RPC          []recorder.RPC          `json:"_rpc,omitempty"`
	SSEEvents    []harSSEEvent           `json:"_sseEvents,omitempty"`
	Toggles      []recorder.ToggleChange `json:"_toggles,omitempty"`
	Findings     []analysis.Finding      `json:"_findings,omitempty"`
	Notes        []recorder.Note         `json:"_notes,omitempty"`
}

type harRequest struct {
	Method      string       `json:"method"`
	URL         string       `json:"url"`
	HTTPVersion string       `json:"httpVersion"`
	Cookies     []harCookie  `json:"cookies"`
	Headers     []harNV      `json:"headers"`
	QueryString []harNV      `json:"queryString"`
	PostData    *harPostData `json:"postData,omitempty"`
	HeadersSize int64        `json:"headersSize"`
	BodySize    int64        `json:"bodySize"`
	Comment     string       `json:"comment,omitempty"`
}

type harResponse struct {
	Status      int         `json:"status"`
	StatusText  string      `json:"statusText"`
	HTTPVersion string      `json:"httpVersion"`
	Cookies     []harCookie `json:"cookies"`
	Headers     []harNV     `json:"headers"`
	Content     harContent  `json:"content"`
	RedirectURL string      `json:"redirectURL"`
	HeadersSize int64       `json:"headersSize"`
	BodySize    int64       `json:"bodySize"`
	Comment     string      `json:"comment,omitempty"`
	Error       string      `json:"_error,omitempty"`
}

type harNV struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harCookie struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Path     string `json:"path,omitempty"`
	Domain   string `json:"domain,omitempty"`
	Expires  string `json:"expires,omitempty"`
	HTTPOnly bool   `json:"httpOnly,omitempty"`
	Secure   bool   `json:"secure,omitempty"`
}

type harPostData struct {
	MimeType string  `json:"mimeType"`
	Text     string  `json:"text"`
	Params   []harNV `json:"params,omitempty"`
	Comment  string  `json:"comment,omitempty"`
	Encoding string  `json:"_encoding,omitempty"` // "base64" for a body that is not UTF-8 (HAR 1.2 has no field for it)
}

type harContent struct {
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType"`
	Text     string `json:"text,omitempty"`
	Encoding string `json:"encoding,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

type harTimings struct {
	Blocked float64 `json:"blocked"`
	DNS     float64 `json:"dns"`
	Connect float64 `json:"connect"`
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
	SSL     float64 `json:"ssl"`
}

type harSSEEvent struct {
	Time  float64 `json:"time"` // ms after the request started
	ID    string  `json:"id,omitempty"`
	Event string  `json:"event,omitempty"`
	Data  string  `json:"data"`
	Retry int     `json:"retry,omitempty"`
}

// WriteHAR writes a HAR 1.2 log: one entry per exchange, in the order they started, with mcpwatch's analysis
// in custom fields (_stage, _client, _connection, _findings, _toggles, _rpc, _sseEvents, _kind). Connections become
// pages. Bodies that are not UTF-8 are base64 (content.encoding); truncated bodies say so in a comment.
func WriteHAR(w io.Writer, exs []*recorder.Exchange, opts Options) error {
	return Write(w, HAR, exs, opts)
}

// harEntriesKey is where the entries go in the log encoded without them: the key at the log's depth, on a line of
// its own (a string in the log cannot hold a newline: this is the key and nothing else).
const harEntriesKey = "\n    \"entries\": []"

// writeHAR writes the log around its entries, encoded as one document with them (the same bytes), and the
// entries one by one as they are read.
func writeHAR(w io.Writer, d *doc) error {
	h := harFile{Log: harLog{
		Version:  "1.2",
		Creator:  harCreator{Name: "mcpwatch", Version: d.opts.Version},
		Entries:  []harEntry{},
		Redacted: d.red != nil,
	}}
	if d.red != nil {
		h.Log.Comment = "Secrets redacted: Authorization credentials, cookies, OAuth codes, PKCE verifiers, tokens, client secrets, CSRF tokens."
	} else {
		h.Log.Comment = "NOT redacted: this file holds the live secrets of the recorded handshake (exported with --no-redact)."
	}
	if d.renumbered {
		h.Log.Comment += " Exchange ids were renumbered (the capture held several runs)."
	}
	pages := map[string]bool{}
	for _, c := range d.report.Connections {
		pages[c.ID] = true
		h.Log.Pages = append(h.Log.Pages, harPage{
			StartedDateTime: harTime(c.Start),
			ID:              c.ID,
			Title:           d.text(connectionTitle(c)),
			PageTimings:     harPageTimings{OnContentLoad: -1, OnLoad: -1},
		})
		cc := *c
		cc.Findings = nil
		for _, f := range c.Findings {
			cc.Findings = append(cc.Findings, d.scrub(f))
		}
		h.Log.Connections = append(h.Log.Connections, &cc)
	}
	h.Log.Findings = d.findings()
	var frame bytes.Buffer
	enc := json.NewEncoder(&frame)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(h); err != nil {
		return fmt.Errorf("har: %w", err)
	}
	at := bytes.Index(frame.Bytes(), []byte(harEntriesKey))
	if at < 0 {
		return fmt.Errorf("har: the log has no entries key") // cannot happen: harLog's Entries is never omitted
	}
	head, tail := frame.Bytes()[:at+len(harEntriesKey)-1], frame.Bytes()[at+len(harEntriesKey)-1:] // split inside []

	bw := bufio.NewWriter(w)
	bw.Write(head)
	var entry bytes.Buffer
	eenc := json.NewEncoder(&entry)
	eenc.SetEscapeHTML(false)
	eenc.SetIndent("      ", "  ") // an entry's depth in the log
	n := 0
	var err error
	d.each(func(_ int, ex *recorder.Exchange) {
		if err != nil {
			return
		}
		e := d.harEntry(ex)
		if pages[e.Connection] {
			e.Pageref = e.Connection
		}
		entry.Reset()
		if err = eenc.Encode(e); err != nil {
			err = fmt.Errorf("har: %w", err)
			return
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n      ")
		bw.Write(bytes.TrimSuffix(entry.Bytes(), []byte("\n")))
		n++
		d.written(ex)
	})
	if err != nil {
		return err
	}
	if n > 0 {
		bw.WriteString("\n    ")
	}
	bw.Write(tail)
	return bw.Flush()
}

func connectionTitle(c *analysis.Connection) string {
	t := string(c.Client)
	if c.ClientName != "" {
		t += " (" + c.ClientName + ")"
	}
	if c.Era != "" {
		t += ", " + c.Era + " era"
	}
	return t
}

// harTime is an ISO 8601 time with milliseconds, in the zone it was recorded in.
func harTime(t time.Time) string { return t.Format("2006-01-02T15:04:05.000Z07:00") }

// ms is a duration in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func (d *doc) harEntry(ex *recorder.Exchange) harEntry {
	info := d.info[ex.ID]
	wait := max(ex.Timings.Wait, 0)
	receive := max(ex.Timings.Total-wait, 0)
	e := harEntry{
		StartedDateTime: harTime(ex.Start),
		Time:            ms(wait + receive),
		Request:         harReq(ex),
		Response:        harResp(ex),
		Timings:         harTimings{Blocked: -1, DNS: -1, Connect: -1, SSL: -1, Send: 0, Wait: ms(wait), Receive: ms(receive)},
		ServerIPAddress: serverIP(ex),
		ID:              ex.ID,
		Kind:            ex.Kind,
		Stage:           string(d.stage(ex)),
		Client:          string(info.Client),
		Connection:      info.Connection,
		ResourceType:    "fetch",
		RemoteAddr:      ex.RemoteAddr,
		RPC:             ex.RPC,
		Toggles:         ex.Toggles,
		Findings:        d.exchangeFindings(ex.ID),
		Notes:           ex.Notes,
	}
	if e.Kind == "" {
		e.Kind = recorder.Inbound
	}
	ct := mediaType(ex.RespHeaders.Get("Content-Type"))
	switch {
	case ct == "text/event-stream":
		e.ResourceType = "eventsource"
	case ct == "text/html" && ex.Method == "GET":
		e.ResourceType = "document"
	}
	for _, ev := range ex.Events {
		e.SSEEvents = append(e.SSEEvents, harSSEEvent{Time: ms(ev.At), ID: ev.ID, Event: ev.Event, Data: ev.Data, Retry: ev.Retry})
	}
	if ex.State != "" && ex.State != recorder.StateComplete {
		e.Comment = "recorded while still " + ex.State
	}
	return e
}

func harHeaders(h recorder.Headers) []harNV {
	out := make([]harNV, 0, len(h))
	for _, x := range h {
		out = append(out, harNV{x.Name, x.Value})
	}
	return out
}

func harPairs(ps []pair) []harNV {
	out := make([]harNV, 0, len(ps))
	for _, p := range ps {
		out = append(out, harNV(p))
	}
	return out
}

func truncationNote(b recorder.Body) string {
	if !b.Truncated {
		return ""
	}
	return fmt.Sprintf("body truncated: %d of %d bytes recorded", len(b.Data), b.Size)
}

func httpVersion(ex *recorder.Exchange) string {
	if ex.Proto != "" {
		return ex.Proto
	}
	return "HTTP/1.1"
}

func harReq(ex *recorder.Exchange) harRequest {
	r := harRequest{
		Method:      ex.Method,
		URL:         absoluteURL(ex),
		HTTPVersion: httpVersion(ex),
		Cookies:     []harCookie{},
		Headers:     harHeaders(ex.ReqHeaders),
		QueryString: harPairs(parsePairs(rawQuery(ex))),
		HeadersSize: -1,
		BodySize:    ex.ReqBody.Size,
	}
	for _, v := range ex.ReqHeaders.Values("Cookie") {
		cs, err := http.ParseCookie(v)
		if err != nil {
			continue
		}
		for _, c := range cs {
			r.Cookies = append(r.Cookies, harCookie{Name: c.Name, Value: c.Value})
		}
	}
	if ex.ReqBody.Size > 0 || len(ex.ReqBody.Data) > 0 {
		ct := ex.ReqHeaders.Get("Content-Type")
		pd := &harPostData{MimeType: ct, Comment: truncationNote(ex.ReqBody)}
		if ex.ReqBody.IsText() {
			pd.Text = string(ex.ReqBody.Data)
			if mediaType(ct) == "application/x-www-form-urlencoded" {
				pd.Params = harPairs(parsePairs(pd.Text))
			}
		} else {
			pd.Text = base64.StdEncoding.EncodeToString(ex.ReqBody.Data)
			pd.Encoding = "base64"
		}
		r.PostData = pd
	}
	return r
}

func harResp(ex *recorder.Exchange) harResponse {
	if ex.Status == 0 {
		// No response: the request failed, or the client went away first.
		return harResponse{
			Cookies: []harCookie{}, Headers: []harNV{},
			Content:     harContent{MimeType: "x-unknown"},
			HeadersSize: -1, BodySize: -1,
			Error: ex.Error,
		}
	}
	r := harResponse{
		Status:      ex.Status,
		StatusText:  http.StatusText(ex.Status),
		HTTPVersion: httpVersion(ex),
		Cookies:     []harCookie{},
		Headers:     harHeaders(ex.RespHeaders),
		RedirectURL: ex.RespHeaders.Get("Location"),
		HeadersSize: -1,
		BodySize:    ex.RespBody.Size,
		Error:       ex.Error,
		Content: harContent{
			Size:     ex.RespBody.Size,
			MimeType: ex.RespHeaders.Get("Content-Type"),
			Comment:  truncationNote(ex.RespBody),
		},
	}
	if r.Content.MimeType == "" {
		r.Content.MimeType = "x-unknown"
	}
	for _, v := range ex.RespHeaders.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(v)
		if err != nil {
			continue
		}
		hc := harCookie{Name: c.Name, Value: c.Value, Path: c.Path, Domain: c.Domain, HTTPOnly: c.HttpOnly, Secure: c.Secure}
		if !c.Expires.IsZero() {
			hc.Expires = c.Expires.UTC().Format(time.RFC3339)
		}
		r.Cookies = append(r.Cookies, hc)
	}
	if len(ex.RespBody.Data) > 0 {
		if ex.RespBody.IsText() {
			r.Content.Text = string(ex.RespBody.Data)
		} else {
			r.Content.Text = base64.StdEncoding.EncodeToString(ex.RespBody.Data)
			r.Content.Encoding = "base64"
		}
	}
	if strings.TrimSpace(ex.Error) != "" && r.Comment == "" {
		r.Comment = ex.Error
	}
	return r
}
