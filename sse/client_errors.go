package sse

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors a Client reports. The fatal ones end the iteration; the others reach
// Client.OnError inside a *ReconnectError.
var (
	// ErrUnexpectedStatus is wrapped by every *StatusError.
	ErrUnexpectedStatus = errors.New("sse: unexpected status")
	// ErrUnexpectedContentType is wrapped by every *ContentTypeError.
	ErrUnexpectedContentType = errors.New("sse: unexpected content type")
	// ErrIdleTimeout ends a connection on which nothing arrived for
	// Client.IdleTimeout.
	ErrIdleTimeout = errors.New("sse: idle timeout")
	// ErrDisconnected reports a stream whose response body ended.
	ErrDisconnected = errors.New("sse: server closed the stream")
	// ErrMaxAttempts is wrapped, together with the last failure, by the
	// error that ends the iteration after Client.MaxAttempts failed
	// attempts in a row.
	ErrMaxAttempts = errors.New("sse: too many failed attempts")
	// ErrIncomplete is wrapped, together with the reason, by the error
	// that ends the iteration of a Client with a completion rule
	// (Client.DoneData, Client.DoneType) before the completing event.
	ErrIncomplete = errors.New("sse: stream ended before its completing event")
	// ErrErrorEvent is wrapped by every *EventError.
	ErrErrorEvent = errors.New("sse: error event")
)

// EventError reports an event of the type Client.ErrorType names: the
// server's report of a failure, sent in the stream after a 200 response as
// LLM APIs do.
type EventError struct {
	Event Event // the event as received, its Data in full
}

// maxErrorData bounds how much of the event's data Error quotes, since an
// event may hold megabytes.
const maxErrorData = 512

func (e *EventError) Error() string {
	d := e.Event.Data
	if len(d) > maxErrorData {
		d = strings.ToValidUTF8(d[:maxErrorData], "") + "…"
	}
	return fmt.Sprintf("sse: %s event: %s", e.Event.Type, d)
}

// Unwrap returns ErrErrorEvent.
func (e *EventError) Unwrap() error { return ErrErrorEvent }

// StatusError reports a response whose status neither opens a stream (200)
// nor ends it normally (204).
type StatusError struct {
	StatusCode int
	Status     string // as in http.Response, e.g. "500 Internal Server Error"
	// RetryAfter is the server's Retry-After header as a delay from the
	// moment the response arrived, or 0 if it sent none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return "sse: unexpected status " + e.Status
}

// Unwrap returns ErrUnexpectedStatus.
func (e *StatusError) Unwrap() error { return ErrUnexpectedStatus }

// ContentTypeError reports a 200 response that is not text/event-stream.
type ContentTypeError struct {
	ContentType string // the Content-Type header, as sent
}

func (e *ContentTypeError) Error() string {
	return fmt.Sprintf("sse: unexpected content type %q, want text/event-stream", e.ContentType)
}

// Unwrap returns ErrUnexpectedContentType.
func (e *ContentTypeError) Unwrap() error { return ErrUnexpectedContentType }

// ReconnectError is what Client.OnError receives when a connection ended or
// could not be made, and the client will try again.
type ReconnectError struct {
	// Err is why: ErrDisconnected, ErrIdleTimeout, a *StatusError (with
	// Client.RetryServerErrors), or a network error.
	Err error
	// Attempt counts the failed attempts in a row, 0 when an open stream
	// ended.
	Attempt int
	// Delay is how long the client waits before it connects again.
	Delay time.Duration
}

func (e *ReconnectError) Error() string {
	return fmt.Sprintf("%v; reconnecting in %v", e.Err, e.Delay)
}

func (e *ReconnectError) Unwrap() error { return e.Err }

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
