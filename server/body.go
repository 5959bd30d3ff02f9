package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// defaultBodyTimeout bounds the wait for a request body on the embedded server's endpoints.
const defaultBodyTimeout = 30 * time.Second

// errBodyTimeout is what reading a request body returns when the body did not arrive within the body timeout
// (a client that announced more bytes than it sent, then waits).
var errBodyTimeout = errors.New("the request body did not arrive in time")

// bodyDeadline bounds the wait for a request's body: a read deadline on the connection from the moment the
// request's headers are in. net/http lifts it when the body has been read to its end (it then reads in the
// background to notice a client going away, with no deadline), so a long answer to a POST — an SSE stream — is not
// cut. Requests without a body (GET event streams) get no deadline. A read that hits the deadline returns an error
// that wraps ErrBodyTimeout and says how much arrived. This sits only in front of the embedded server: proxy mode
// streams request bodies to the upstream, which no fixed deadline fits.
func bodyDeadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			if err := setReadDeadline(w, time.Now().Add(d)); err != nil {
				next.ServeHTTP(w, r) // a writer without deadlines (httptest.ResponseRecorder)
				return
			}
			// A shallow copy (net/http keeps its own *Request and its Body), with its body's wrapper in the same
			// allocation: every POST takes this path.
			rb := &deadlineRequest{r: *r, b: deadlineBody{ReadCloser: r.Body, d: d}}
			rb.r.Body = &rb.b
			next.ServeHTTP(w, &rb.r)
		})
	}
}

// setReadDeadline is http.NewResponseController(w).SetReadDeadline(t), without allocating the controller when w
// is net/http's own writer (this middleware is the outermost).
func setReadDeadline(w http.ResponseWriter, t time.Time) error {
	if d, ok := w.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t)
	}
	return http.NewResponseController(w).SetReadDeadline(t)
}

// deadlineRequest is bodyDeadline's copy of a request and the wrapper of its body, in one allocation.
type deadlineRequest struct {
	r http.Request
	b deadlineBody
}

type deadlineBody struct {
	io.ReadCloser
	d time.Duration
	n int64
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && errors.Is(err, os.ErrDeadlineExceeded) {
		err = &bodyTimeoutError{n: b.n, d: b.d, err: err}
	}
	return n, err
}

// bodyTimeoutError says what arrived, without the socket addresses of the underlying error, which it wraps (with
// ErrBodyTimeout) for errors.Is.
type bodyTimeoutError struct {
	n   int64
	d   time.Duration
	err error
}

func (e *bodyTimeoutError) Error() string {
	return fmt.Sprintf("%s: %d bytes within %s, then nothing", errBodyTimeout, e.n, e.d)
}

func (e *bodyTimeoutError) Unwrap() []error { return []error{errBodyTimeout, e.err} }

// maxSmallBody is the largest request body proxy mode reads whole within the body timeout (the proxy then forwards
// it in one piece: see proxy.wholeBody).
const maxSmallBody = 64 << 10

// smallBodyDeadline bounds the wait for a small request body in proxy mode, where bodies otherwise stream to the
// upstream as they arrive: a body with a Content-Length of at most maxSmallBody (a JSON-RPC message, a token
// request) is read whole under a read deadline of d; one that does not arrive in time gets 408 and the connection
// is closed. The deadline is lifted as soon as the body is in, so the answer (an SSE stream) and the upstream's
// wait are not cut. Bodies of unknown length (chunked), larger ones and those announced with Expect:
// 100-continue still stream, bounded by the upstream's own patience. It sits inside the recorder, so the 408 is
// recorded with the bytes that came.
func smallBodyDeadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength <= 0 || r.ContentLength > maxSmallBody || r.Body == nil || r.Body == http.NoBody ||
				r.Header.Get("Expect") != "" {
				next.ServeHTTP(w, r)
				return
			}
			rc := http.NewResponseController(w)
			if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
				next.ServeHTTP(w, r) // a writer without deadlines (httptest.ResponseRecorder)
				return
			}
			// read whole: the recorder's record of the body is buf itself (never written again), not a copy
			buf, err := recorder.ReadBody(r.Body, r.ContentLength)
			n := len(buf)
			if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				// The deadline stays: what reads the rest (the recorder, net/http) gives up at once too.
				w.Header().Set("Connection", "close")
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusRequestTimeout)
				fmt.Fprintf(w, "408 Request Timeout: %s (Content-Length %d, %d bytes received within %s)\n", errBodyTimeout, r.ContentLength, n, d)
				return
			}
			_ = rc.SetReadDeadline(time.Time{}) // the body is in: the answer and the upstream's wait have no deadline
			r2 := *r                            // a shallow copy: net/http keeps its own *Request and its Body
			if err != nil {
				// It ended early (the client went away): forwarded as far as it came, then the same error.
				r2.Body = struct {
					io.Reader
					io.Closer
				}{io.MultiReader(bytes.NewReader(buf[:n]), errorReader{err}), r.Body}
			} else {
				r2.Body = io.NopCloser(bytes.NewReader(buf))
				r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
			}
			next.ServeHTTP(w, &r2)
		})
	}
}

type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }
