package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// FirstEvent opens n GET event streams at url one after the other and measures, for each, the time from sending
// the request to reading the end of the first event (its blank line); a proxy that buffers the stream delivers it
// only when the stream ends. The first event must carry data.
//
// Cold: each stream is opened on a new connection and closed after its first event (so a proxy cannot reuse its
// upstream connection either: every sample includes connecting, on each hop). Warm: connections are kept alive
// and each stream is read to its end, so that the next one reuses them; a first, unmeasured stream warms them.
func FirstEvent(ctx context.Context, url string, header http.Header, n int, warm bool) (Latency, error) {
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: !warm}}
	defer hc.CloseIdleConnections()
	var ds []time.Duration
	if warm {
		if _, err := firstEvent(ctx, hc, url, header, true); err != nil {
			return Latency{}, err
		}
	}
	for range n {
		d, err := firstEvent(ctx, hc, url, header, warm)
		if err != nil {
			return summarize(ds), err
		}
		ds = append(ds, d)
	}
	return summarize(ds), nil
}

// FirstEvents is FirstEvent for several targets measured at the same moments: the targets take turns, the order
// rotated by the turn (and by rotate), so that whatever else the machine does during the run (another process on
// the servers' CPUs, a busy second) falls on every target alike instead of on whichever target had its streams
// then. In its turn a target gets two streams in a row and only the second is measured: it finds the target as
// FirstEvent's streams do, right after one of its own streams ended (what that end left to do, its caches warm, a
// kept-alive connection), not after another target's. Each target has its own client. The i-th Latency is urls[i]'s.
func FirstEvents(ctx context.Context, urls []string, header http.Header, n int, warm bool, rotate int) ([]Latency, error) {
	hcs := make([]*http.Client, len(urls))
	for i := range urls {
		hcs[i] = &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: !warm}}
		defer hcs[i].CloseIdleConnections()
	}
	ds := make([][]time.Duration, len(urls))
	out := func() []Latency {
		lats := make([]Latency, len(urls))
		for i := range ds {
			lats[i] = summarize(ds[i])
		}
		return lats
	}
	for k := range n {
		for j := range urls {
			i := (j + k + rotate) % len(urls)
			_, err := firstEvent(ctx, hcs[i], urls[i], header, warm)
			var d time.Duration
			if err == nil {
				d, err = firstEvent(ctx, hcs[i], urls[i], header, warm)
			}
			if err != nil {
				return out(), fmt.Errorf("%s: %w", urls[i], err)
			}
			ds[i] = append(ds[i], d)
		}
	}
	return out(), nil
}

func firstEvent(ctx context.Context, hc *http.Client, url string, header http.Header, drain bool) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	t0 := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return 0, fmt.Errorf("GET stream: HTTP %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	data := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("GET stream: no complete first event: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "data:") {
			data = true
		}
		if line == "" && data {
			d := time.Since(t0)
			if drain {
				if _, err := io.Copy(io.Discard, br); err != nil {
					return 0, fmt.Errorf("GET stream: after the first event: %w", err)
				}
			}
			return d, nil
		}
	}
}
