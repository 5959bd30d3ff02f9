package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
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

// tempDir makes a run's directory; remove removes it (and forgets it). An interrupt removes it too.
func tempDir(pattern string) (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, err
	}
	left.mu.Lock()
	if left.dirs == nil {
		left.dirs = map[string]bool{}
	}
	left.dirs[dir] = true
	left.mu.Unlock()
	return dir, func() {
		left.mu.Lock()
		delete(left.dirs, dir)
		left.mu.Unlock()
		os.RemoveAll(dir)
	}, nil
}

// cleanUpOnInterrupt makes an interrupt (Ctrl-C, SIGINT) or SIGTERM stop every server still running and remove
// the run's directories before mcpbench exits (128 + the signal, as a shell reports it); a second signal while
// that runs changes nothing.
func cleanUpOnInterrupt() {
	c := make(chan os.Signal, 2)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-c
		n, d := cleanUp()
		fmt.Fprintf(os.Stderr, "mcpbench: %v: stopped %d servers, removed %d directories\n", s, n, d)
		code := 130
		if sig, ok := s.(syscall.Signal); ok {
			code = 128 + int(sig)
		}
		os.Exit(code)
	}()
}

// cleanUp stops the servers left running, all at once (each is given stop's 10 s), and removes the directories
// left; nothing is tracked after it.
func cleanUp() (servers, dirs int) {
	left.mu.Lock()
	left.done = true
	procs, ds := left.procs, left.dirs
	left.procs, left.dirs = nil, nil
	left.mu.Unlock()
	var wg sync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
	for d := range ds {
		os.RemoveAll(d)
	}
	return len(procs), len(ds)
}
