package analysis

import (
	"fmt"
	"testing"
)

// forget's work per exchange does not grow with the streams held open at the head of its queue (a stranger can
// hold many open): it once queued each open exchange again whenever it met it, so with 1,000 streams open in a
// window of 1,050 every new exchange went round 1,000 of them for each 50 done ones it could forget (about 21
// steps an exchange, and the heap of late ids grew with each round: the test took 17 s), against 1 now. With as many
// open streams as the window it did not finish.
func TestForgetWorkPerExchange(t *testing.T) {
	const window, n = 1050, 1000
	perExchange := func(k int) float64 {
		a := New(Options{MaxExchanges: window})
		id := uint64(0)
		for range k {
			id++
			a.Observe(newEx(id, "GET", "/mcp").req("Mcp-Session-Id", "s1").pending().ex)
		}
		post := func() {
			id++
			a.Observe(newEx(id, "POST", "/mcp").req("Mcp-Session-Id", "s1").req("Mcp-Protocol-Version", "2025-11-25").
				body("application/json", rpc(int(id), "tools/call")).
				answer(200, "application/json", fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":{"content":[]}}`, id)).ex)
		}
		for range window { // fill the window: no forgetting yet
			post()
		}
		before := a.forgetSteps
		for i := range n {
			post()
			if steps := a.forgetSteps - before; steps > 100*uint64(i+1) {
				return float64(steps) / float64(i+1) // enough to tell: not linear
			}
			if a.exs.len() > max(window, k+1) {
				t.Fatalf("%d records kept, window %d, %d open", a.exs.len(), window, k)
			}
		}
		for i := uint64(1); i <= uint64(k); i++ {
			if a.Info(i).Stage == "" {
				t.Fatalf("open stream #%d forgotten", i)
			}
		}
		return float64(a.forgetSteps-before) / n
	}
	few, many := perExchange(10), perExchange(1000)
	t.Logf("forget's steps per exchange: %.2f with 10 streams open at the head, %.2f with 1,000", few, many)
	if many > 2*few+1 {
		t.Errorf("forget's work per exchange grows with the open streams: %.2f steps with 10 open, %.2f with 1,000", few, many)
	}
}
