// Package headless prints exchanges as they complete, one line each, for `mcpwatch serve --no-tui` and for
// runs whose stdout is not a terminal.
package headless

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// Options choose the output form.
type Options struct {
	// JSON prints each exchange as a JSON line instead of text.
	JSON bool
}

// Run prints every completed exchange from sub to w until ctx ends or sub closes. Updates the subscription lost
// are reported as one line so that a gap is never silent.
func Run(ctx context.Context, sub *recorder.Subscription, w io.Writer, opts Options) error {
	bw := bufio.NewWriter(w)
	var reported uint64
	for {
		select {
		case <-ctx.Done():
			return bw.Flush()
		case u, ok := <-sub.C:
			if !ok {
				return bw.Flush()
			}
			if d := sub.Dropped(); d > reported {
				fmt.Fprintf(bw, "# %d updates were not shown: the output could not keep up\n", d-reported)
				reported = d
			}
			if u.Kind != recorder.Completed {
				continue
			}
			if opts.JSON {
				if err := json.NewEncoder(bw).Encode(u.Exchange); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(bw, Line(u.Exchange))
			}
			// Flush per line when nothing else is waiting, so a tail -f or a pipe sees each line at once.
			if len(sub.C) == 0 {
				if err := bw.Flush(); err != nil {
					return err
				}
			}
		}
	}
}

// Line is the text form of an exchange: time, method, path, JSON-RPC method, status, duration.
func Line(ex *recorder.Exchange) string {
	rpc := ex.RPCMethod()
	if rpc == "" {
		rpc = "-"
	}
	status := fmt.Sprint(ex.Status)
	if ex.Error != "" && ex.Status == 0 {
		status = "ERR"
	}
	path := ex.Path()
	if ex.Kind == recorder.Outbound {
		path = "→ " + ex.URL // a request mcpwatch made (proxy mode: the upstream side)
	}
	line := fmt.Sprintf("%s %-6s %-44s %-28s %3s %8s", ex.Start.Format("15:04:05.000"), ex.Method, path, rpc, status,
		ex.Timings.Total.Round(100*time.Microsecond))
	if code, _, ok := ex.RPCError(); ok {
		line += fmt.Sprintf(" rpc-error=%d", code)
	}
	if ex.Error != "" {
		line += " error=" + fmt.Sprintf("%q", ex.Error)
	}
	return line
}
