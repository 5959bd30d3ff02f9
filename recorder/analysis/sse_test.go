package analysis

import (
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// On the 2024-11-05 HTTP+SSE transport every answer arrives on the GET stream; a POSTed request's stage status
// comes from its answer there, and the stream is not blamed for the errors it carries. Batch and live (the POSTs
// complete before their answers are streamed) agree.
func TestSSEAnswersPairWithTheirPosts(t *testing.T) {
	exs := loadFixture(t, "sdk-go-sse-call-error")
	byMethod := map[string][]uint64{}
	var stream uint64
	for _, ex := range SettleOrder(exs) {
		if ex.Method == "GET" {
			stream = ex.ID
		}
		if m := ex.RPCMethod(); m != "" {
			byMethod[m] = append(byMethod[m], ex.ID)
		}
	}
	if stream == 0 || len(byMethod["tools/call"]) != 2 {
		t.Fatalf("fixture: stream %d, calls %v", stream, byMethod["tools/call"])
	}
	live := New(Options{})
	for _, s := range snapshots(exs) {
		live.Observe(s)
	}
	batch := New(Options{})
	for _, ex := range SettleOrder(exs) {
		batch.Observe(ex)
	}
	for name, a := range map[string]*Analyzer{"batch": batch, "live": live} {
		want := map[uint64]StageStatus{
			stream:                    StatusOK,
			byMethod["initialize"][0]: StatusOK,
			byMethod["tools/list"][0]: StatusOK,
			byMethod["tools/call"][0]: StatusFailed, // no_such_tool: -32602 on the stream
			byMethod["tools/call"][1]: StatusOK,
		}
		for id, st := range want {
			if in := a.Info(id); in.Status != st || in.Era != "legacy" || in.Connection != "c1" {
				t.Errorf("%s: #%d %s is %s (era %q, %s), want %s", name, id, in.Stage, in.Status, in.Era, in.Connection, st)
			}
		}
		if c := a.Report().Connections[0]; c.Protocol != "2024-11-05" {
			t.Errorf("%s: protocol %q, want the one initialize's answer on the stream gave", name, c.Protocol)
		}
	}
}

// A finding from a POST's answer on the stream is the POST's (initialize-failed on initialize), not the stream's.
func TestSSEFindingOnThePost(t *testing.T) {
	rep, exs := analyzeFixture(t, "sse-initialize-failed")
	var post uint64
	for _, ex := range exs {
		if ex.RPCMethod() == "initialize" {
			post = ex.ID
		}
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Rule != "initialize-failed" || rep.Findings[0].ExchangeID != post {
		t.Errorf("findings %+v, want initialize-failed on #%d", rep.Findings, post)
	}
}

// Any endpoint the stream's first event names pairs, and an answer that arrives after its POST completed is taken.
func TestSSEEndpointAndLateAnswer(t *testing.T) {
	const target = "/messages?sessionId=abc"
	a := New(Options{})
	open := newEx(1, "GET", "/sse").req("Accept", "text/event-stream").answer(200, "text/event-stream", "")
	open.ex.State = recorder.StateStreaming
	open.ex.Events = []recorder.SSEEvent{{Event: "endpoint", Data: "http://127.0.0.1:3001" + target}}
	a.Observe(open.ex)
	post := newEx(2, "POST", target).body("application/json", rpc(7, "tools/call")).answer(202, "", "Accepted")
	a.Observe(post.ex)
	if in := a.Info(2); in.Status != StatusPending || in.Connection != a.Info(1).Connection {
		t.Fatalf("before its answer: %+v (stream on %s)", in, a.Info(1).Connection)
	}
	answered := *open.ex
	answered.Events = append(answered.Events, recorder.SSEEvent{At: time.Second, Event: "message",
		Data: `{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"boom"}}`})
	answered.RPC = recorder.ParseRPC([]byte(answered.Events[1].Data), recorder.FromServer, 1)
	a.Observe(&answered)
	if in := a.Info(2); in.Status != StatusFailed || in.Era != "legacy" {
		t.Errorf("after its error answer: %+v", in)
	}
	if in := a.Info(1); in.Status != StatusOK {
		t.Errorf("the stream is %s, want ok", in.Status)
	}
	// The stream ends with a POST never answered: it is judged on its own.
	a.Observe(newEx(3, "POST", target).body("application/json", rpc(8, "tools/list")).answer(202, "", "").ex)
	ended := answered
	ended.State = recorder.StateComplete
	a.Observe(&ended)
	if in := a.Info(3); in.Status != StatusOK {
		t.Errorf("unanswered POST after the stream ended: %+v", in)
	}
}
