// Command mcpload is mcpwatch's load generator: concurrent MCP clients against an MCP endpoint, every response
// checked (status, JSON-RPC shape, the tool's answer, each OAuth step), with throughput, latency percentiles and
// the errors found. See package bench/loadgen for what each mode does.
//
//	go run ./bench/cmd/mcpload --url http://127.0.0.1:4000/mcp                      # tools/call loop, legacy era
//	go run ./bench/cmd/mcpload --url URL --era 2026                                  # stateless 2026-07-28 calls
//	go run ./bench/cmd/mcpload --url URL --auth                                      # each client signs in first
//	go run ./bench/cmd/mcpload --url URL --mode handshake --refresh                  # whole OAuth handshakes
//	go run ./bench/cmd/mcpload --url URL --mode setup                                # session setups (legacy era)
//	go run ./bench/cmd/mcpload --url URL --rate 1000                                 # 1,000 calls/s, paced
//
// The exit code is 1 when any operation failed (or the server answered 5xx, or a paced run did not keep its rate),
// 2 for a usage error.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("mcpload", flag.ContinueOnError)
	var (
		cfg      loadgen.Config
		mode     = fs.String("mode", "call", "`call`: a tools/call loop per client; handshake: whole OAuth handshakes in a loop; setup: session setups (initialize, notifications/initialized, DELETE) in a loop")
		era      = fs.String("era", "legacy", "`era`: legacy (initialize at 2025-11-25, sessions) or 2026 (stateless 2026-07-28)")
		asJSON   = fs.Bool("json", false, "print the result as JSON")
		hostHdr  = fs.String("host", "", "send this Host header (e.g. a tunnel's public host)")
		duration = fs.Duration("duration", 5*time.Second, "the measured `window`")
	)
	fs.StringVar(&cfg.URL, "url", "", "the MCP endpoint `URL`, e.g. http://127.0.0.1:4000/mcp")
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent `clients`")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "warm-up before the measured window")
	fs.BoolVar(&cfg.Auth, "auth", false, "call mode: each client runs the OAuth handshake first (the server needs --auto-approve, or the consent form is answered)")
	fs.BoolVar(&cfg.Refresh, "refresh", false, "handshake mode: refresh the token and call again with the new one")
	fs.BoolVar(&cfg.ConfidentialClients, "confidential", false, "register clients with client_secret_post")
	fs.StringVar(&cfg.Tool, "tool", "echo", "the echo tool's `name`")
	fs.Float64Var(&cfg.Rate, "rate", 0, "call mode: send this many `calls/s` on a fixed schedule (an open loop; latency from each call's scheduled time) rather than as fast as the answers come")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per-request timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mcpload: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.Mode, cfg.Era, cfg.Duration = loadgen.Mode(*mode), loadgen.Era(*era), *duration
	if *hostHdr != "" {
		cfg.Header = map[string][]string{"Host": {*hostHdr}}
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "mcpload:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil && res == nil {
		fmt.Fprintln(os.Stderr, "mcpload:", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else {
		fmt.Print(res)
	}
	if res.Errors > 0 || res.ServerErrors() > 0 || res.Ops == 0 || (res.Paced != nil && res.Paced.NotKept != "") {
		return 1
	}
	return 0
}
