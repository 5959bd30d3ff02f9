package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"
)

// left is what an interrupted run must not leave behind: the servers still running (each in a process group of its
// own, so a Ctrl-C at the terminal reaches only mcpbench) and the run's directories (a copy of every server's
// binary, some 240 MB, and the capture files).
var left struct {
	mu    sync.Mutex
	procs map[*proc]bool
	dirs  map[string]bool
	done  bool // cleaning up: nothing more is started
}

// errInterrupted is a server not started because the run is being interrupted.
var errInterrupted = errors.New("interrupted")

// startTracked starts p's command and notes p until it is stopped, unless the run is being interrupted: under the
// lock cleanUp takes, so that no server starts after cleanUp has read what to stop.
func startTracked(p *proc) error {
	left.mu.Lock()
	defer left.mu.Unlock()
	if left.done {
		return errInterrupted
	}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	if left.procs == nil {
		left.procs = map[*proc]bool{}
	}
	left.procs[p] = true
	return nil
}

func untrack(p *proc) {
	left.mu.Lock()
	delete(left.procs, p)
	left.mu.Unlock()
}

// tempDir makes a run's directory; remove removes it (and forgets it). An interrupt removes it too; once one is
// being handled, no directory is made (errInterrupted).
func tempDir(pattern string) (dir string, remove func(), err error) {
	left.mu.Lock()
	defer left.mu.Unlock()
	if left.done {
		return "", nil, errInterrupted
	}
	if dir, err = os.MkdirTemp("", pattern); err != nil {
		return "", nil, err
	}
	if left.dirs == nil {
		left.dirs = map[string]bool{}
	}
	left.dirs[dir] = true
	return dir, func() {
		left.mu.Lock()
		delete(left.dirs, dir)
		left.mu.Unlock()
		os.RemoveAll(dir)
	}, nil
}

// interrupting reports whether an interrupt is being handled: the run's own goroutine then waits for the handler
// to exit rather than ending the process first, with its own error (the servers it measured are going away) and
// status, and cleanUp cut short.
func interrupting() bool {
	left.mu.Lock()
	defer left.mu.Unlock()
	return left.done
}

// cleanUpOnInterrupt makes an interrupt (Ctrl-C, SIGINT) or SIGTERM stop every server still running and remove
// the run's directories before mcpbench exits (128 + the signal, as a shell reports it). Another signal a second
// or more later, while that runs, exits at once (a server that does not stop); one sooner is the same interrupt
// (a Ctrl-C reaches this process from the terminal and again from the pinned parent, repin).
func cleanUpOnInterrupt() {
	c := make(chan os.Signal, 4)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-c
		first := time.Now()
		code := 130
		if sig, ok := s.(syscall.Signal); ok {
			code = 128 + int(sig)
		}
		go func() {
			for range c {
				if time.Since(first) >= time.Second {
					fmt.Fprintf(os.Stderr, "mcpbench: %v again: exiting without waiting for the servers\n", s)
					os.Exit(code)
				}
			}
		}()
		n, d := cleanUp()
		fmt.Fprintf(os.Stderr, "mcpbench: %v: stopped %d servers, removed %d directories\n", s, n, d)
		os.Exit(code)
	}()
}

// stopAll stops every server still running, all at once (each is given stop's 10 s), and returns how many: at the
// run's end, before the tui group's benchmarks, and on an interrupt. The run keeps no list of its own.
func stopAll() int {
	left.mu.Lock()
	procs := slices.Collect(maps.Keys(left.procs))
	left.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(p.stop)
	}
	wg.Wait()
	return len(procs)
}

// cleanUp stops the servers left running (stopAll) and removes the directories left, after which nothing more is
// started or made.
func cleanUp() (servers, dirs int) {
	left.mu.Lock()
	left.done = true
	ds := left.dirs
	left.dirs = nil
	left.mu.Unlock()
	servers = stopAll()
	for d := range ds {
		if os.RemoveAll(d) != nil {
			os.RemoveAll(d) // a file written into it meanwhile (a binary's copy under way)
		}
	}
	return servers, len(ds)
}
