// Package sse implements the text/event-stream wire format of the WHATWG HTML
// standard ("Server-sent events"): an encoder, a streaming parser, a response
// writer for one http.ResponseWriter and a reconnecting client with the
// semantics of the browser's EventSource.
//
// The client also reads the streams that answer a POST, as LLM completion
// APIs and MCP's Streamable HTTP send them: such a request is sent once, a
// completion rule ([Client.DoneData], [Client.DoneType]) tells a finished
// stream from one cut short ([ErrIncomplete]), and error events sent after
// the 200 become an [*EventError] ([Client.ErrorType]). See the examples.
//
// The package uses the standard library only.
package sse

import (
	"errors"
	"time"
)

// Event is one server-sent event.
//
// When encoding, empty ID and Type fields are left out of the wire form and a
// zero Retry writes no retry field. When parsing, ID holds the stream's last
// event ID at the moment the event was dispatched (it persists across events,
// as the standard says), Type is "message" unless the event named one, and
// Retry is zero: a retry field sets the stream's reconnection time, which a
// Decoder reports through its OnRetry hook and Retry method.
type Event struct {
	// ID is the event's id field. It must not contain CR, LF or NUL.
	ID string
	// Type is the event's event field. It must not contain CR or LF.
	Type string
	// Data is the event's payload. Line breaks (LF, CR or CRLF) are written
	// as one data line per line and read back as LF.
	Data string
	// Retry, when positive, is the reconnection time sent before the event.
	// It is written in whole milliseconds.
	Retry time.Duration
}

// ErrInvalidEvent is wrapped by every error the encoder returns for an event
// that cannot be written as it is.
var ErrInvalidEvent = errors.New("sse: invalid event")

// FieldError reports an event field whose value cannot be written without
// changing the meaning of the stream.
type FieldError struct {
	Field  string // the field's name on the wire: "id", "event" or "retry"
	Reason string
}

func (e *FieldError) Error() string {
	return "sse: invalid " + e.Field + " field: " + e.Reason
}

// Unwrap returns ErrInvalidEvent, so errors.Is(err, ErrInvalidEvent) holds.
func (e *FieldError) Unwrap() error { return ErrInvalidEvent }
