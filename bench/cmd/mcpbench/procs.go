package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverCPUs is where every server process runs (--server-cpus; empty: anywhere).
var serverCPUs string

// loadCPUs is the load generator's CPU list (--load-cpus; empty: not pinned): others reads its busy time.
var loadCPUs string

// proc is a server process under measurement: mcpwatch, a peer (this binary's `peer` command) or mitmdump.
type proc struct {
	name string
	url  string // base URL, no path
	cmd  *exec.Cmd
	out  *syncBuf
	done chan struct{}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() < 1<<20 {
		s.b.Write(p)
	}
	return len(p), nil
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var bannerRE = regexp.MustCompile(`listening on (http://[^\s/]+)`)

// startBanner runs a command that prints "listening on http://HOST:PORT" on stderr (mcpwatch and the peers) and
// waits for it. stdout goes to /dev/null (mcpwatch's headless lines: it formats them as it would for a file).
func startBanner(name string, env []string, bin string, args ...string) (*proc, error) {
	pbin, pargs := pinned(serverCPUs, bin, args...)
	cmd := exec.Command(pbin, pargs...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = waitDelay
	p := &proc{name: name, cmd: cmd, out: &syncBuf{}, done: make(chan struct{})}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	cmd.Stdout = devnull
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = pw
	if err := startTracked(p); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pw.Close()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.out.Write([]byte(line + "\n"))
			if m := bannerRE.FindStringSubmatch(line); m != nil && !sent {
				urlc <- m[1]
				sent = true
			}
		}
		pr.Close()
	}()
	select {
	case p.url = <-urlc:
		return p, nil
	case <-p.done:
		untrack(p)
		return nil, fmt.Errorf("%s exited before its banner: %s\n%s", name, cmd.ProcessState, p.out.String())
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s printed no banner within 30s:\n%s", name, p.out.String())
	}
}

// startMitmdump runs mitmdump in reverse mode in front of upstream on a free loopback port, with its
// configuration (its CA) in dir, and waits until it accepts connections.
func startMitmdump(name, dir, upstream string, extra ...string) (*proc, error) {
	bin, err := exec.LookPath("mitmdump")
	if err != nil {
		return nil, fmt.Errorf("mitmdump is not installed (Debian: apt-get install mitmproxy)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(dir, "mitmproxy")
	args := append([]string{"-q", "--mode", "reverse:" + upstream, "--listen-host", "127.0.0.1", "--listen-port", strconv.Itoa(port),
		"--set", "confdir=" + conf}, extra...)
	pbin, pargs := pinned(serverCPUs, bin, args...)
	cmd := exec.Command(pbin, pargs...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = waitDelay
	p := &proc{name: name, cmd: cmd, out: &syncBuf{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := startTracked(p); err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			p.url = "http://" + addr
			return p, nil
		}
		select {
		case <-p.done:
			untrack(p)
			return nil, fmt.Errorf("mitmdump exited: %s", p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("mitmdump did not listen on %s within 60s: %s", addr, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDelay bounds how long a server's end is waited for once it exited and while something else holds its output
// open (a child of mitmdump's): stop, and so an interrupt's cleanup, never hangs on it.
const waitDelay = 5 * time.Second

// stop interrupts the process group (as Ctrl-C does) and kills it if it outlives 10 s.
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	defer untrack(p)
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// memory returns the process's resident set now (VmRSS) and at its peak (VmHWM), in bytes.
func (p *proc) memory() (rss, peak int64) {
	return procMemory(p.cmd.Process.Pid)
}

func procMemory(pid int) (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return rss, peak
}

// cpuTime returns the user+system CPU time the process has used so far (from /proc/PID/stat, in clock ticks of
// 1/100 s).
func (p *proc) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// cpuBusy is the time the CPUs in cpus have spent busy since boot, all processes together: user, nice, system, irq
// and softirq of their lines in /proc/stat (clock ticks of 1/100 s); 0 when it cannot be read (not Linux) or cpus
// is empty. The time the hypervisor took from them is not in it: cpuSteal.
func cpuBusy(cpus []int) time.Duration { return cpuTicks(cpus, 1, 2, 3, 6, 7) }

// cpuSteal is the time the CPUs in cpus have spent since boot waiting for the hypervisor while they had work (steal,
// the eighth column of their lines in /proc/stat): on a virtual machine whose host is busy, a server's CPU runs
// another guest's work part of the time, and what a window measures is then the host's load as much as the server.
func cpuSteal(cpus []int) time.Duration { return cpuTicks(cpus, 8) }

// procStat is the file cpuTicks reads (tests point it at their own).
var procStat = "/proc/stat"

// cpuTicks adds up the given columns (1: user ... 8: steal) of the lines of the CPUs in cpus in /proc/stat.
func cpuTicks(cpus []int, cols ...int) time.Duration {
	if len(cpus) == 0 {
		return 0
	}
	b, err := os.ReadFile(procStat)
	if err != nil {
		return 0
	}
	var ticks int64
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil || !slices.Contains(cpus, n) {
			continue
		}
		for _, i := range cols {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// cpuSet lists the CPUs of a taskset-style list ("0", "0,2", "0-3"; as parseCPUs checked it); nil for "".
func cpuSet(list string) []int {
	var out []int
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for c := a; c <= b && c < 1024; c++ {
			out = append(out, c)
		}
	}
	return out
}

// others measures, over a run, the CPU time that processes other than this run's used on the load generator's
// CPUs and on the servers' CPUs (a busy machine: another build or test there), from /proc/stat: each set's busy
// time less what this driver (on the load generator's CPUs) and the run's servers (on the servers' CPUs) used;
// and the time the hypervisor took from each set (steal). Each is 0 when that side is not pinned (its CPUs are not
// its own).
type others struct {
	load, servers  []int
	procs          []*proc
	busyL, busyS   time.Duration
	stealL, stealS time.Duration
	self, srv      time.Duration
}

// machineUse is what others measured over a run.
type machineUse struct {
	onLoad, onServers       time.Duration // other processes' CPU time
	stealLoad, stealServers time.Duration // the hypervisor's
}

func startOthers(procs []*proc) *others {
	o := &others{load: cpuSet(loadCPUs), servers: cpuSet(serverCPUs), procs: procs}
	o.busyL, o.busyS, o.self, o.srv = cpuBusy(o.load), cpuBusy(o.servers), selfCPU(), o.serversCPU()
	o.stealL, o.stealS = cpuSteal(o.load), cpuSteal(o.servers)
	return o
}

func (o *others) serversCPU() time.Duration {
	var sum time.Duration
	for _, p := range o.procs {
		sum += p.cpuTime()
	}
	return sum
}

// stop returns what other processes and the hypervisor took of the load generator's CPUs and of the servers' since
// start.
func (o *others) stop() machineUse {
	var u machineUse
	if len(o.load) > 0 {
		u.onLoad = max(cpuBusy(o.load)-o.busyL-(selfCPU()-o.self), 0)
		u.stealLoad = max(cpuSteal(o.load)-o.stealL, 0)
	}
	if len(o.servers) > 0 {
		u.onServers = max(cpuBusy(o.servers)-o.busyS-(o.serversCPU()-o.srv), 0)
		u.stealServers = max(cpuSteal(o.servers)-o.stealS, 0)
	}
	return u
}

// startOwn is startBanner with the process running from a copy of bin of its own in dir (ownBinary): never from
// the file of another process of the run, whose code it would find warm in the shared CPU's caches. name must be
// new in dir.
func startOwn(dir, name string, env []string, bin string, args ...string) (*proc, error) {
	if interrupting() {
		return nil, fmt.Errorf("%s: %w", name, errInterrupted) // no copy written into a directory being removed
	}
	path, err := exec.LookPath(bin) // a bare name is looked up in PATH, as exec.Command would
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	own, err := ownBinary(path, dir, "bin-"+name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return startBanner(name, env, own, args...)
}

// ownBinary copies the binary at self to dir/name, for a server process that must not run another process's file:
// every server that run's start starts gets its own (the oauth group's fresh servers, which run alone, and the
// memory group's, whose figure is RSS, still run from the binaries' files). Processes started from one file share
// its code's memory, so on a shared CPU one can warm the caches for the other. The bare ReverseProxy peer, started
// from this binary like the plain upstream behind it, ran the same net/http code at the same physical addresses as
// its upstream, and the upstream spent ~30–40% less CPU answering it than answering mcpwatch (another binary) — in
// the first event's window (sse group), 101–127 µs against 136–189, whether mcpwatch or a copy of this binary ran
// the same ReverseProxy (docs/benchmarks-store.md, branch fe19). mcpwatch's two proxies (recording on and off)
// shared mcpwatch's file the same way: in a side-by-side tool, recording off run from the recording proxy's file
// reached its first event 0.96–1.04× as late as the ReverseProxy, the same build from a copy 1.13–1.21×; script/bench
// itself did not show that difference beyond its spread (docs/benchmarks-store.md, round eleven). A copy (not a
// link: a link is the same file) runs its code from pages of its own.
func ownBinary(self, dir, name string) (string, error) {
	src, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer src.Close()
	path := filepath.Join(dir, name)
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", fmt.Errorf("copying %s: %w", self, err)
	}
	if err := dst.Close(); err != nil {
		return "", err
	}
	return path, nil
}
