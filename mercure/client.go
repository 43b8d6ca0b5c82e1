package mercure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxPublishReply bounds what [Publish] reads of a hub's answer: an update
// ID, or a refusal's reason.
const maxPublishReply = 64 << 10

// ErrRefused is what the error of [Publish] unwraps to when the hub answered
// with another status than 200 OK.
var ErrRefused = errors.New("mercure: update refused")

// RefusedError is a hub's refusal of an update: the status it answered
// with and the reason in its body.
type RefusedError struct {
	StatusCode int
	Status     string // such as "403 Forbidden"
	// Reason is the hub's message, without surrounding space; a hub
	// such as this package's names the field at fault first.
	Reason string
}

// Error returns the status and the reason, as the hub wrote them.
func (e *RefusedError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = "(no message)"
	}
	return e.Status + ": " + reason
}

// Unwrap returns [ErrRefused], so errors.Is(err, ErrRefused) holds.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Publish posts an update to the Mercure hub whose publish endpoint is
// hubURL (such as https://example.com/.well-known/mercure), authorized by
// token (an empty one sends no Authorization header), and returns the ID the hub gave it. The form holds the update's
// fields as the spec names them: topic (repeatable, the first canonical),
// data, id, type, retry and private.
//
// A refusal is a [*RefusedError]; a nil client means
// [http.DefaultClient]. Publish sends the request once: whether to send
// it again after a transport error is the caller's choice, for an update
// without an id may then be stored twice.
func Publish(ctx context.Context, client *http.Client, hubURL, token string, form url.Values) (id string, err error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hubURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPublishReply))
	msg := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return "", &RefusedError{StatusCode: resp.StatusCode, Status: resp.Status, Reason: msg}
	}
	if err != nil {
		return "", fmt.Errorf("reading the hub's answer: %w", err)
	}
	if msg == "" {
		return "", errors.New("the hub answered 200 without an update ID")
	}
	return msg, nil
}
