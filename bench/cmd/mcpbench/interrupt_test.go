package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const envInterruptChild = "MCPBENCH_TEST_INTERRUPT_CHILD"

// An interrupted run stops the servers it started (each in a process group of its own, which a Ctrl-C at the
// terminal does not reach) and removes its directory with their binaries' copies, then exits 130 as a shell
// reports an interrupt; before, it left both (a whole run's copies are some 240 MB). The run is this test's binary
// again, started as a child that runs the cleanup's code as mcpbench does: a directory, a server from a copy of its
// binary in it.
func TestInterruptStopsServersAndRemovesTheRunsFiles(t *testing.T) {
	if bin := os.Getenv(envInterruptChild); bin != "" {
		interruptChild(bin)
		return
	}
	bin := fakeServer(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterruptStopsServersAndRemovesTheRunsFiles$")
	cmd.Env = append(os.Environ(), envInterruptChild+"="+bin, "TMPDIR="+t.TempDir()) // nothing left in /tmp if it fails
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "started ") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	var dir string
	var pid int
	select {
	case line, ok := <-lines:
		if !ok {
			cmd.Wait()
			t.Fatalf("the child ended before starting its server: %s", stderr.String())
		}
		if _, err := fmt.Sscanf(line, "started %d in %s", &pid, &dir); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the child did not start its server in 30 s: %s", stderr.String())
	}
	defer func() {
		if t.Failed() {
			syscall.Kill(-pid, syscall.SIGKILL) // the server does not outlive a failed test
		}
	}()
	if _, err := os.Stat(filepath.Join(dir, "bin-srv")); err != nil {
		t.Fatalf("the run's copy of the server's binary: %v", err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the interrupted child did not exit in 30 s")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("the interrupted child exited %v (%v), want status 130; stderr: %s", err, cmd.ProcessState, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped 1 servers, removed 1 directories") {
		t.Errorf("stderr does not say what it cleaned up: %q", stderr.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the run's directory %s is still there (%v)", dir, err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the server (pid %d) is still running after the interrupt (kill 0: %v)", pid, err)
	}
}

// interruptChild is the child's side: what mcpbench does before its groups run, then a server started, then a wait
// for it to end, and the end of a run whose server went away (which must not end the process before the cleanup
// does, with status 1).
func interruptChild(bin string) {
	cleanUpOnInterrupt()
	dir, _, err := tempDir("mcpbench-interrupt-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	p, err := startOwn(dir, "srv", nil, bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Printf("started %d in %s\n", p.cmd.Process.Pid, dir)
	<-p.done // as a group whose server the cleanup stops: its error ends the run, as main ends it
	exit(fmt.Errorf("%s stopped", p.name))
}
