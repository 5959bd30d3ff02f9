// Package e2e holds mcpwatch's cross-process tests: the real mcpwatch binary against real peers (the official
// conformance suite, the official TypeScript SDK client, ...). It has no code outside its tests.
//
// The harness (harness_test.go) is shared by every e2e test in this package:
//
//   - TestMain (main_test.go) builds cmd/mcpwatch once into a temporary directory (with -race when the tests run
//     with -race); Binary is its path. Do not add another TestMain to this package.
//   - Start(t, args...) runs `mcpwatch ARGS --addr 127.0.0.1:0` with XDG_STATE_HOME in t.TempDir(), waits for the
//     banner ("listening on http://...") on stderr and returns a *Proc with the real URL. Proc.Stdout and
//     Proc.Stderr give what the process printed so far; Proc.Stop (also run at cleanup) sends SIGINT and fails the
//     test unless the process exits with code 0 within StopTimeout. StartCmd does the same for any prepared
//     command (Command(args...) for the binary, or `go run`).
//   - Run(t, timeout, args...) runs a one-shot mcpwatch subcommand (version, export, ...) and returns its output and
//     exit code; RunCmd does the same for any command.
//   - HeadlessLines parses mcpwatch's headless stdout (one line per exchange) for assertions.
//   - Node(t, timeout, script, args...) runs a script under e2e/node with the pinned Node 22 binary;
//     Conformance(t, timeout, args...) runs the pinned conformance CLI. Both fail the test with the install hint
//     (`cd e2e/node && npm ci`, which script/test runs) when node_modules is missing.
//
// Run them with `go test ./e2e/` (after `cd e2e/node && npm ci`) or as part of script/test.
package e2e
