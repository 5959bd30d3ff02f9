package main

import "github.com/mcpwatch/mcpwatch/recorder"

// storeLimits bound the in-memory store; the TUI holds no more than the store does.
var storeLimits = recorder.StoreOptions{}
