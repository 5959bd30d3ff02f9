package headless

// The findings these tests read name the toggle that caused them, which the analysis learns from server/toggle's
// declarations (each toggle's Causes, registered at start): link them in, as the mcpwatch binary does. Only tests
// import the server from here (TestRecorderImportsNoServer lists the packages' own imports).
import _ "github.com/mcpwatch/mcpwatch/server/toggle"
