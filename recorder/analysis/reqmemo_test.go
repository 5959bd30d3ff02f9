package analysis

import (
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// call2026 is a 2026-07-28 tools/call as a client sends it (per-request _meta) and its answer.
func call2026(id uint64) *recorder.Exchange {
	const meta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"mcpload","version":"1"}}`
	return newEx(id, "POST", "/mcp").req("Mcp-Protocol-Version", "2026-07-28").req("Mcp-Method", "tools/call").req("Mcp-Name", "echo").
		body("application/json", `{"id":3,"jsonrpc":"2.0","method":"tools/call","params":{`+meta+`,"arguments":{"text":"hi"},"name":"echo"}}`).
		answer(200, "application/json", `{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"hi"}]}}`).ex
}

// The rules that read a request's params (its era, its client, its session and version headers, its tool) share
// one reading of them: a 2026-07-28 tools/call's body was decoded into maps five times per observation, its _meta
// seven (241 allocations; 76 now).
func TestObserveReadsTheParamsOnce(t *testing.T) {
	a := New(Options{})
	id := uint64(1)
	for range 10 { // the connection exists and knows its client
		a.Observe(call2026(id))
		id++
	}
	exs := make([]*recorder.Exchange, 200)
	for i := range exs {
		exs[i] = call2026(id + uint64(i))
	}
	i := 0
	n := testing.AllocsPerRun(100, func() { a.Observe(exs[i]); i++ })
	if n > 80 {
		t.Errorf("%.0f allocations to observe a 2026-07-28 tools/call, want at most 80", n)
	}
	// What the rules say is unchanged: the era and the protocol version come from _meta.
	if info := a.Info(exs[0].ID); info.Era != "2026" {
		t.Errorf("era %q", info.Era)
	}
}
