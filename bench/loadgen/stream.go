package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// FirstEvent opens n GET event streams at url one after the other and measures, for each, the time from sending
// the request to reading the end of the first event (its blank line); a proxy that buffers the stream delivers it
// only when the stream ends. Each stream is closed after its first event. The first event must carry data.
func FirstEvent(ctx context.Context, url string, header http.Header, n int) (Latency, error) {
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true}}
	var ds []time.Duration
	for range n {
		d, err := firstEvent(ctx, hc, url, header)
		if err != nil {
			return summarize(ds), err
		}
		ds = append(ds, d)
	}
	return summarize(ds), nil
}

func firstEvent(ctx context.Context, hc *http.Client, url string, header http.Header) (time.Duration, error) {
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
			return time.Since(t0), nil
		}
	}
}
