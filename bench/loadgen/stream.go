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
