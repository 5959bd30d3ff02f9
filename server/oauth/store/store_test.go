package store

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	now := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(path, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a new store wrote a file before any change: %v", err)
	}
	err = s.Update(func(st *State) error {
		st.Clients.Put("c1", Client{ID: "c1", IssuedAt: now})
		st.Grants.Put("g1", Grant{ID: "g1", ClientID: "c1", Resource: "https://h/mcp", Created: now})
		st.AccessTokens.Put(Hash("at"), AccessToken{GrantID: "g1", Issued: now, Expires: now.Add(time.Hour)})
		st.RefreshTokens.Put(Hash("rt"), RefreshToken{GrantID: "g1", Issued: now, Expires: now.Add(24 * time.Hour), State: RefreshActive})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s2.View(func(st *State) {
		if !st.Clients.Has("c1") || !st.Grants.Has("g1") || !st.AccessTokens.Has(Hash("at")) || !st.RefreshTokens.Has(Hash("rt")) {
			t.Errorf("lost on reload: %+v", st)
		}
	})
	s2.Close()
	// Expired tokens, and grants left without tokens, are pruned on load.
	later := now.Add(48 * time.Hour)
	s3, err := Open(path, Options{Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	s3.View(func(st *State) {
		if st.AccessTokens.Len()+st.RefreshTokens.Len()+st.Grants.Len() != 0 || !st.Clients.Has("c1") {
			t.Errorf("after expiry: %+v", st)
		}
	})
}

// A failed update leaves the state as it was.
func TestUpdateRollsBack(t *testing.T) {
	s := Ephemeral(Options{})
	s.Update(func(st *State) error { st.Clients.Put("a", Client{ID: "a"}); return nil })
	err := s.Update(func(st *State) error {
		st.Clients.Delete("a")
		st.Clients.Put("b", Client{ID: "b"})
		return os.ErrInvalid
	})
	if err != os.ErrInvalid {
		t.Fatalf("err %v", err)
	}
	s.View(func(st *State) {
		if !st.Clients.Has("a") || st.Clients.Has("b") {
			t.Errorf("not rolled back: %+v", st.Clients)
		}
	})
}

// An unreadable state file is a clear error that names the file and the way out, and is left untouched.
func TestCorruptFile(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":          "this is not json",
		"truncated":        `{"version":1,"clients":{"c1":{"client_id":"c1"`,
		"no version":       `{"clients":{}}`,
		"future version":   `{"version":99}`,
		"wrong types":      `{"version":1,"clients":[1,2]}`,
		"mismatched entry": `{"version":1,"clients":{"a":{"client_id":"b"}}}`,
		"null entry":       `{"version":1,"grants":{"g":null}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			os.WriteFile(path, []byte(content), 0o600)
			_, err := Open(path, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range []string{path, "--ephemeral", "--state"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Error("the corrupt file was changed")
			}
		})
	}
	t.Run("a directory", func(t *testing.T) {
		path := t.TempDir()
		if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("err %v", err)
		}
	})
}

// Concurrent updates all reach the file, and the file always parses.
func TestConcurrentUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for i := range 20 {
		go func() {
			defer func() { done <- struct{}{} }()
			id := string(rune('a' + i))
			if err := s.Update(func(st *State) error { st.Clients.Put(id, Client{ID: id}); return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	for range 20 {
		<-done
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s2.View(func(st *State) {
		if st.Clients.Len() != 20 {
			t.Errorf("%d clients in the file, want 20", st.Clients.Len())
		}
	})
}

// Two stores on one state file would overwrite each other's registrations: the second Open fails, naming the path
// and the ways out, until the first is closed; a closed store writes nothing more.
func TestOneStorePerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s1, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Update(func(st *State) error { st.Clients.Put("a", Client{ID: "a"}); return nil }); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{})
	wantInUse(t, err, path, fmt.Sprintf("(pid %d)", os.Getpid()))
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Update(func(st *State) error { st.Clients.Put("late", Client{ID: "late"}); return nil }); err == nil || !strings.Contains(err.Error(), "not written") {
		t.Errorf("an update after Close: %v", err)
	}
	s1.Close() // idempotent
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("after the first store closed: %v", err)
	}
	defer s2.Close()
	s2.View(func(st *State) {
		if !st.Clients.Has("a") || st.Clients.Has("late") {
			t.Errorf("clients %v, want a only", st.Clients)
		}
	})
	// Another path is another lock.
	s3, err := Open(filepath.Join(filepath.Dir(path), "other.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s3.Close()
}

func wantInUse(t *testing.T, err error, path, owner string) {
	t.Helper()
	if err == nil {
		t.Fatal("a second store opened the same state file")
	}
	for _, want := range []string{path, "in use by another mcpwatch " + owner, "--state PATH", "--ephemeral"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// The lock holds across processes and goes with the process that held it: a child process (this test binary)
// opens the state, this process cannot, and can once the child has exited.
func TestOneStorePerFileAcrossProcesses(t *testing.T) {
	if path := os.Getenv("MCPWATCH_STORE_LOCK_CHILD"); path != "" {
		if _, err := Open(path, Options{}); err != nil {
			fmt.Println("child:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin) // hold the lock until the parent closes stdin; exit without Close
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOneStorePerFileAcrossProcesses$")
	cmd.Env = append(os.Environ(), "MCPWATCH_STORE_LOCK_CHILD="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	_, err = Open(path, Options{})
	wantInUse(t, err, path, fmt.Sprintf("(pid %d)", cmd.Process.Pid))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("after the child exited: %v", err)
	}
	s.Close()
}
