package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// DefaultBodyTimeout bounds the wait for a request body on the embedded server's endpoints.
const DefaultBodyTimeout = 30 * time.Second

// ErrBodyTimeout is what reading a request body returns when the body did not arrive within the body timeout
// (a client that announced more bytes than it sent, then waits).
var ErrBodyTimeout = errors.New("the request body did not arrive in time")

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
			if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(d)); err != nil {
				next.ServeHTTP(w, r) // a writer without deadlines (httptest.ResponseRecorder)
				return
			}
			r2 := *r // a shallow copy: net/http keeps its own *Request and its Body
			r2.Body = &deadlineBody{ReadCloser: r.Body, d: d}
			next.ServeHTTP(w, &r2)
		})
	}
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
	return fmt.Sprintf("%s: %d bytes within %s, then nothing", ErrBodyTimeout, e.n, e.d)
}

func (e *bodyTimeoutError) Unwrap() []error { return []error{ErrBodyTimeout, e.err} }
