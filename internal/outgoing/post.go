package outgoing

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ExcerptBytes bounds the start of a receiver's answer kept with an attempt.
const ExcerptBytes = 512

// Attempt is what one delivery attempt came to.
type Attempt struct {
	// StatusCode is the receiver's HTTP status; 0 when it did not answer.
	StatusCode int
	// Latency is from sending the request to the end of the answer's start.
	Latency time.Duration
	// Excerpt is the start of the receiver's answer (valid UTF-8, no NUL):
	// for the workspace's admins only, never for logs.
	Excerpt string
	// Err says why the attempt failed: no answer (transport), or a non-2xx
	// status (*StatusError). nil when delivered.
	Err error
}

// Delivered tells whether the receiver acknowledged the event (2xx).
func (a Attempt) Delivered() bool { return a.Err == nil }

// StatusError is a receiver's non-2xx answer. Its message holds no part of
// the answer, so it may be logged.
type StatusError struct{ StatusCode int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("the receiver answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// SignAll is the Referflow-Signature header value for body sent at
// timestamp, with one v1 value per secret (while a secret is rotated, the new
// and the previous one both sign): "t=<unix seconds>,v1=<hex>,v1=<hex>".
func SignAll(secrets [][]byte, timestamp time.Time, body []byte) string {
	t := strconv.FormatInt(timestamp.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + t)
	for _, s := range secrets {
		b.WriteString(",v1=" + hex.EncodeToString(mac(s, t, body)))
	}
	return b.String()
}

// Post POSTs an event's exact body to rawURL with its ID and the signature
// of every secret, waits at most Timeout for the answer, and says what came
// of it. client must come from NewClient (its policy decides where webhooks
// may go); nil is NewClient(Policy{}): https to public addresses only. A URL
// the policy refuses, before or after resolving its host, is an attempt
// whose Err wraps ErrUnsupportedURL, and nothing is sent.
func Post(ctx context.Context, client *http.Client, rawURL string, secrets [][]byte, eventID, eventType string, body []byte) Attempt {
	client, err := checkBeforeSending(client, rawURL)
	if errors.Is(err, ErrUnsupportedURL) {
		deliveries.WithLabelValues(eventType, OutcomeInvalidURL).Inc()
	}
	if err != nil {
		return Attempt{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		deliveries.WithLabelValues(eventType, OutcomeInvalidURL).Inc()
		return Attempt{Err: &URLError{Reason: "is not a valid URL"}}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "referflow-webhooks")
	req.Header.Set(EventIDHeader, eventID)
	req.Header.Set(SignatureHeader, SignAll(secrets, time.Now(), body))
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		if refused := refusedOnDial(err); refused != nil {
			// Refused after resolving the host: nothing was sent.
			deliveries.WithLabelValues(eventType, OutcomeInvalidURL).Inc()
			return Attempt{Latency: time.Since(start), Err: refused}
		}
		deliveries.WithLabelValues(eventType, OutcomeTransportError).Inc()
		return Attempt{Latency: time.Since(start), Err: transportError(err)}
	}
	defer resp.Body.Close()
	buf := bytes.NewBuffer(make([]byte, 0, ExcerptBytes))
	_, _ = io.Copy(buf, io.LimitReader(resp.Body, ExcerptBytes))
	a := Attempt{StatusCode: resp.StatusCode, Latency: time.Since(start), Excerpt: excerpt(buf.Bytes())}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	deliveries.WithLabelValues(eventType, statusOutcome(resp.StatusCode)).Inc()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.Err = &StatusError{StatusCode: resp.StatusCode}
	}
	return a
}

// transportError says why no answer came, without the URL (it may carry a
// receiver's token) or anything the network said.
func transportError(err error) error {
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ue) && ue.Timeout()):
		return fmt.Errorf("no answer within %s", Timeout)
	case errors.Is(err, context.Canceled):
		return errors.New("the delivery was interrupted")
	case errors.As(err, &ue):
		return fmt.Errorf("no answer: %v", ue.Err)
	}
	return fmt.Errorf("no answer: %v", err)
}

// excerpt keeps an answer's start as text Postgres can store.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.TrimSpace(strings.ReplaceAll(s, "\x00", ""))
}
