package outgoing_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/outgoing"
)

var secret = []byte("whsec-test")

// loopback is the policy an operator sets for receivers on this machine
// (REFERFLOW_WEBHOOK_ALLOW_HTTP=true,
// REFERFLOW_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8,::1): the tests' receivers
// are plain-http httptest servers on 127.0.0.1.
var loopback = outgoing.Policy{
	AllowHTTP:       true,
	AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
}

func TestSignIsTheDocumentedHMAC(t *testing.T) {
	t.Parallel()
	// echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec-test
	got := outgoing.Sign(secret, time.Unix(1700000000, 0), []byte(`{"a":1}`))
	want := "t=1700000000,v1=fed7a1a6c799a6367d73724d76bc70c16678908a32a879cd1ded6565ac05cece"
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	if err := outgoing.Verify(secret, got, []byte(`{"a":1}`), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Now()
	body := []byte(`{"id":"x"}`)
	good := outgoing.Sign(secret, now, body)
	if err := outgoing.Verify(secret, good, body, now.Add(4*time.Minute)); err != nil {
		t.Fatalf("fresh signature: %v", err)
	}
	for name, tc := range map[string]struct {
		header string
		body   []byte
		secret []byte
		now    time.Time
		want   error
	}{
		"stale":           {good, body, secret, now.Add(6 * time.Minute), outgoing.ErrStaleSignature},
		"from the future": {good, body, secret, now.Add(-6 * time.Minute), outgoing.ErrStaleSignature},
		"tampered body":   {good, []byte(`{"id":"y"}`), secret, now, outgoing.ErrBadSignature},
		"other secret":    {good, body, []byte("other"), now, outgoing.ErrBadSignature},
		"tampered time": {strings.Replace(good, "t=", "t=1", 1), body, secret,
			time.Unix(0, 0), outgoing.ErrStaleSignature},
		"no v1":     {"t=1", body, secret, now, outgoing.ErrMalformedSignature},
		"not hex":   {"t=1,v1=zz", body, secret, now, outgoing.ErrMalformedSignature},
		"no t":      {"v1=00", body, secret, now, outgoing.ErrMalformedSignature},
		"empty":     {"", body, secret, now, outgoing.ErrMalformedSignature},
		"shifted t": {"t=" + shiftT(good) + good[strings.Index(good, ","):], body, secret, now, outgoing.ErrBadSignature},
	} {
		if err := outgoing.Verify(tc.secret, tc.header, tc.body, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// While a secret rotates, a second v1 may be present.
	rotated := good + ",v1=" + strings.Repeat("ab", 32)
	if err := outgoing.Verify(secret, rotated, body, now); err != nil {
		t.Errorf("two v1 values: %v", err)
	}
}

// shiftT returns the signature's timestamp plus one second, still fresh.
func shiftT(header string) string {
	t, _, _ := strings.Cut(strings.TrimPrefix(header, "t="), ",")
	sec, _ := strconv.ParseInt(t, 10, 64)
	return strconv.FormatInt(sec+1, 10)
}

func TestSend(t *testing.T) {
	t.Parallel()
	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost {
			t.Errorf("method %s", r.Method)
		}
		got <- delivery{r.Header.Clone(), body}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	created := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ev := outgoing.Event{ID: "evt-1", Type: "reward.issued", CreatedAt: created, Data: map[string]string{"amount": "12.50"}}
	if err := outgoing.Send(context.Background(), outgoing.NewClient(loopback), srv.URL+"/hook", secret, ev); err != nil {
		t.Fatal(err)
	}
	d := <-got
	if d.header.Get("Content-Type") != "application/json" || d.header.Get(outgoing.EventIDHeader) != "evt-1" {
		t.Fatalf("headers %v", d.header)
	}
	if err := outgoing.Verify(secret, d.header.Get(outgoing.SignatureHeader), d.body, time.Now()); err != nil {
		t.Fatalf("signature: %v", err)
	}
	var env map[string]any
	if err := json.Unmarshal(d.body, &env); err != nil {
		t.Fatal(err)
	}
	if env["id"] != "evt-1" || env["type"] != "reward.issued" || env["created_at"] != "2026-03-01T10:00:00Z" ||
		env["data"].(map[string]any)["amount"] != "12.50" {
		t.Fatalf("body %s", d.body)
	}
}

func TestSendFailures(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadRequest, http.StatusFound} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code == http.StatusFound {
				http.Redirect(w, r, "/elsewhere", code)
				return
			}
			http.Error(w, "receiver is down", code)
		}))
		err := outgoing.Send(context.Background(), outgoing.NewClient(loopback), srv.URL+"?token=secret", secret, outgoing.Event{ID: "e", Type: "t", Data: 1})
		srv.Close()
		var de *outgoing.DeliveryError
		if !errors.As(err, &de) || de.StatusCode != code {
			t.Fatalf("answer %d: %v, want a DeliveryError with the status", code, err)
		}
		if strings.Contains(err.Error(), "token=secret") {
			t.Errorf("error leaks the query string: %v", err)
		}
	}
	// A receiver that does not answer: the error names it without its query.
	srv := httptest.NewServer(http.NotFoundHandler())
	dead := srv.URL
	srv.Close()
	err := outgoing.Send(context.Background(), outgoing.NewClient(loopback), dead+"?token=secret", secret, outgoing.Event{ID: "e", Type: "t"})
	if err == nil || strings.Contains(err.Error(), "token=secret") {
		t.Errorf("closed receiver: %v", err)
	}
	for _, u := range []string{"file:///etc/passwd", "gopher://x", "ftp://x/y", "/relative", "http://", "http://user:pw@host/"} {
		if err := outgoing.Send(context.Background(), nil, u, secret, outgoing.Event{ID: "e", Type: "t"}); !errors.Is(err, outgoing.ErrUnsupportedURL) {
			t.Errorf("%s: %v, want ErrUnsupportedURL", u, err)
		}
	}
}
