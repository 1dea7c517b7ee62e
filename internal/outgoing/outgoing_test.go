package outgoing_test

import (
	"context"
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

func TestPost(t *testing.T) {
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
		_, _ = w.Write([]byte("thanks"))
	}))
	defer srv.Close()

	body := []byte(`{"id":"evt-1","type":"reward.issued","created_at":"2026-03-01T10:00:00Z","data":{"amount":"12.50"}}`)
	previous := []byte("whsec_previous")
	a := outgoing.Post(context.Background(), outgoing.NewClient(loopback), srv.URL+"/hook", [][]byte{secret, previous}, "evt-1", "reward.issued", body)
	if !a.Delivered() || a.StatusCode != http.StatusAccepted || a.Excerpt != "thanks" || a.Latency <= 0 {
		t.Fatalf("attempt %+v", a)
	}
	d := <-got
	if d.header.Get("Content-Type") != "application/json" || d.header.Get(outgoing.EventIDHeader) != "evt-1" {
		t.Fatalf("headers %v", d.header)
	}
	if string(d.body) != string(body) {
		t.Fatalf("body %s, want the stored body as it is", d.body)
	}
	// While a secret is rotated both sign: a receiver holding either
	// verifies the delivery.
	for _, s := range [][]byte{secret, previous} {
		if err := outgoing.Verify(s, d.header.Get(outgoing.SignatureHeader), d.body, time.Now()); err != nil {
			t.Fatalf("signature with %s: %v", s, err)
		}
	}
	if err := outgoing.Verify([]byte("whsec_other"), d.header.Get(outgoing.SignatureHeader), d.body, time.Now()); !errors.Is(err, outgoing.ErrBadSignature) {
		t.Fatalf("another secret verified: %v", err)
	}
}

func TestPostFailures(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"e"}`)
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadRequest, http.StatusFound} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code == http.StatusFound {
				http.Redirect(w, r, "/elsewhere", code)
				return
			}
			http.Error(w, "receiver is down\x00\xff", code)
		}))
		a := outgoing.Post(context.Background(), outgoing.NewClient(loopback), srv.URL+"?token=secret", [][]byte{secret}, "e", "t", body)
		srv.Close()
		var se *outgoing.StatusError
		if a.Delivered() || !errors.As(a.Err, &se) || se.StatusCode != code || a.StatusCode != code {
			t.Fatalf("answer %d: %+v, want a StatusError with the status", code, a)
		}
		if strings.Contains(a.Err.Error(), "receiver is down") {
			t.Errorf("the error carries the answer (it may be logged): %v", a.Err)
		}
		if code != http.StatusFound && a.Excerpt != "receiver is down\uFFFD" {
			t.Errorf("excerpt %q: want the answer's start as storable text", a.Excerpt)
		}
	}
	// A receiver that does not answer: the error names it without its query.
	srv := httptest.NewServer(http.NotFoundHandler())
	dead := srv.URL
	srv.Close()
	a := outgoing.Post(context.Background(), outgoing.NewClient(loopback), dead+"?token=secret", [][]byte{secret}, "e", "t", body)
	if a.Err == nil || a.StatusCode != 0 || strings.Contains(a.Err.Error(), "token=secret") {
		t.Errorf("closed receiver: %+v", a)
	}
	for _, u := range []string{"file:///etc/passwd", "gopher://x", "ftp://x/y", "/relative", "http://", "http://user:pw@host/"} {
		if a := outgoing.Post(context.Background(), nil, u, [][]byte{secret}, "e", "t", body); !errors.Is(a.Err, outgoing.ErrUnsupportedURL) {
			t.Errorf("%s: %v, want ErrUnsupportedURL", u, a.Err)
		}
	}
}
