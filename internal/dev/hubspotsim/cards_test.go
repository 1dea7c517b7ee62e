package hubspotsim

// Contract tests of app cards' hubspot.fetch (cards.go): each pins a fact of
// HubSpot's fetching-data guide for UI extensions to what CardFetch does.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/hubspot/signature"
)

// cardBackend is an app's backend that records what it received.
type cardBackend struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
}

func newCardBackend(t *testing.T, answer http.HandlerFunc) *cardBackend {
	t.Helper()
	b := &cardBackend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.got = append(b.got, r)
		b.bodies = append(b.bodies, body)
		b.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *cardBackend) last() (*http.Request, []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got[len(b.got)-1], b.bodies[len(b.bodies)-1]
}

func jsonAnswer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestCardFetchAppendsHubSpotParamsAndSigns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{AppID: 4242, ClientSecret: "card-secret"})
	b := newCardBackend(t, jsonAnswer(200, `{"ok":true}`))
	e.sim.SetCardPermittedURLs(b.srv.URL)
	contact := e.createContact("ana@example.com", nil)
	ctx := context.Background()

	// A GET: HubSpot's parameters follow the card's own query; v3 signs the
	// full URL, the empty body and the timestamp; v2 is there too.
	res, err := e.sim.CardFetch(ctx, CardFetchRequest{PortalID: e.p.ID, URL: b.srv.URL + "/card?associatedObjectId=" + contact,
		UserID: 77, UserEmail: "rep@acme.test", Record: &CardRecord{ObjectType: "0-1", ObjectID: contact}})
	if err != nil || res.Status != 200 || string(res.Body) != `{"ok":true}` || res.Attempts != 1 {
		t.Fatalf("fetch = %+v %v", res, err)
	}
	r, body := b.last()
	wantQuery := "associatedObjectId=" + contact + "&userId=77&portalId=" + itoa(e.p.ID) + "&userEmail=rep%40acme.test&appId=4242"
	if r.Method != http.MethodGet || r.URL.RawQuery != wantQuery || len(body) != 0 || r.Header.Get("Content-Type") != "" {
		t.Fatalf("request = %s %s body %q type %q, want query %s", r.Method, r.URL, body, r.Header.Get("Content-Type"), wantQuery)
	}
	full := b.srv.URL + r.URL.RequestURI()
	ts := r.Header.Get(signature.HeaderTimestamp)
	if r.Header.Get(signature.HeaderV3) != signature.V3("card-secret", "GET", full, nil, ts) ||
		r.Header.Get(signature.HeaderV1V2) != signature.V2("card-secret", "GET", full, nil) || r.Header.Get(signature.HeaderVersion) != "v2" {
		t.Fatalf("signatures do not match HubSpot's over %s: %v", full, r.Header)
	}
	public, _ := url.Parse(b.srv.URL)
	if err := (signature.Verifier{Secret: "card-secret", PublicURL: public}).Verify(r, body); err != nil {
		t.Fatalf("referflow's verifier refuses the simulator's signature: %v", err)
	}

	// A POST: the body is JSON, signed as sent.
	if _, err := e.sim.CardFetch(ctx, CardFetchRequest{PortalID: e.p.ID, URL: b.srv.URL + "/card/actions", Method: "post",
		Body: map[string]string{"status": "approved"}, UserID: 77}); err != nil {
		t.Fatal(err)
	}
	r, body = b.last()
	full = b.srv.URL + r.URL.RequestURI()
	if r.Method != http.MethodPost || string(body) != `{"status":"approved"}` || r.Header.Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(r.URL.RawQuery, "userId=77&portalId=") ||
		r.Header.Get(signature.HeaderV3) != signature.V3("card-secret", "POST", full, body, r.Header.Get(signature.HeaderTimestamp)) {
		t.Fatalf("POST = %s %s %q %v", r.Method, r.URL, body, r.Header)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestCardFetchRefusesWhatHubSpotRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	b := newCardBackend(t, jsonAnswer(200, `{}`))
	ctx := context.Background()
	ok := CardFetchRequest{PortalID: e.p.ID, URL: b.srv.URL + "/card", UserID: 1}
	// No permittedUrls: nothing may be fetched; a prefix must end at a path boundary.
	if _, err := e.sim.CardFetch(ctx, ok); !errors.Is(err, ErrCardURLNotPermitted) {
		t.Fatalf("unpermitted URL: %v", err)
	}
	e.sim.SetCardPermittedURLs(b.srv.URL + "/ca")
	if _, err := e.sim.CardFetch(ctx, ok); !errors.Is(err, ErrCardURLNotPermitted) {
		t.Fatalf("a permitted URL's prefix that is not a path: %v", err)
	}
	e.sim.SetCardPermittedURLs(b.srv.URL + "/")
	for name, tc := range map[string]struct {
		change func(*CardFetchRequest)
		want   error
	}{
		"another app":    {func(r *CardFetchRequest) { r.AppID = 99 }, ErrCardWrongApp},
		"unknown portal": {func(r *CardFetchRequest) { r.PortalID = 1 }, errNoPortal},
		"missing record": {func(r *CardFetchRequest) { r.Record = &CardRecord{ObjectType: "contacts", ObjectID: "424242"} }, ErrCardNoRecord},
		"body over 1 MB": {func(r *CardFetchRequest) {
			r.Method, r.Body = "POST", map[string]string{"x": strings.Repeat("a", CardFetchMaxBytes)}
		}, ErrCardRequestTooLarge},
		"unsupported verb": {func(r *CardFetchRequest) { r.Method = "OPTIONS" }, nil},
	} {
		req := ok
		tc.change(&req)
		_, err := e.sim.CardFetch(ctx, req)
		if (tc.want == nil && err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	if n := len(b.got); n != 0 {
		t.Fatalf("refused fetches reached the backend %d times", n)
	}
}

func TestCardFetchAnswerOver1MBTimeoutAndRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	var calls atomic.Int32
	big := strings.Repeat("x", CardFetchMaxBytes)
	b := newCardBackend(t, func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/exactly-1mb":
			_, _ = io.WriteString(w, big)
		case "/big":
			_, _ = io.WriteString(w, big+"y")
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/flaky":
			if n%2 == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, `{"ok":true}`)
		case "/down":
			w.WriteHeader(http.StatusInternalServerError)
		case "/refused":
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
	})
	e.sim.SetCardPermittedURLs(b.srv.URL)
	fetch := func(path string, timeout time.Duration) (CardFetchResponse, error) {
		return e.sim.CardFetch(context.Background(), CardFetchRequest{PortalID: e.p.ID, URL: b.srv.URL + path, UserID: 1, Timeout: timeout})
	}
	if res, err := fetch("/exactly-1mb", 0); err != nil || len(res.Body) != CardFetchMaxBytes {
		t.Fatalf("a 1 MB answer = %d bytes, %v", len(res.Body), err)
	}
	if _, err := fetch("/big", 0); !errors.Is(err, ErrCardAnswerTooLarge) {
		t.Fatalf("an answer over 1 MB: %v", err)
	}
	start := time.Now()
	if _, err := fetch("/slow", 100*time.Millisecond); !errors.Is(err, ErrCardTimeout) || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("a slow answer: %v after %s", err, time.Since(start))
	}
	// A 5XX is retried once within the timeout; a 4XX is the card's answer.
	calls.Store(0)
	if res, err := fetch("/flaky", 0); err != nil || res.Status != 200 || res.Attempts != 2 {
		t.Fatalf("a 503 then a 200 = %+v %v", res, err)
	}
	if res, err := fetch("/down", 0); err != nil || res.Status != 500 || res.Attempts != 2 {
		t.Fatalf("two 500s = %+v %v", res, err)
	}
	if res, err := fetch("/refused", 0); err != nil || res.Status != 422 || res.Attempts != 1 {
		t.Fatalf("a 422 = %+v %v", res, err)
	}
	// A backend that cannot be reached rejects the promise after one retry.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	e.sim.SetCardPermittedURLs(gone.URL)
	before := e.sim.CardFetches()
	if _, err := e.sim.CardFetch(context.Background(), CardFetchRequest{PortalID: e.p.ID, URL: gone.URL + "/card", UserID: 1}); !errors.Is(err, ErrCardConnectionFailed) || e.sim.CardFetches()-before != 2 {
		t.Fatalf("an unreachable backend: %v after %d attempts", err, e.sim.CardFetches()-before)
	}
}

func TestCardFetchTwentyInFlightPerAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	other := e.sim.CreatePortal("Other portal")
	hold := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(CardFetchConcurrency)
	b := newCardBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived.Done()
			<-hold
		}
		_, _ = io.WriteString(w, `{}`)
	})
	e.sim.SetCardPermittedURLs(b.srv.URL)
	fetch := func(portal int64, path string) (CardFetchResponse, error) {
		return e.sim.CardFetch(context.Background(), CardFetchRequest{PortalID: portal, URL: b.srv.URL + path, UserID: 1})
	}
	var done sync.WaitGroup
	for range CardFetchConcurrency {
		done.Add(1)
		go func() {
			defer done.Done()
			if res, err := fetch(e.p.ID, "/hold"); err != nil || res.Status != 200 {
				t.Errorf("held fetch = %+v %v", res, err)
			}
		}()
	}
	arrived.Wait()
	// The 21st of the account is HubSpot's 429, not sent; another account's goes through.
	res, err := fetch(e.p.ID, "/now")
	var body map[string]any
	if err != nil || res.Status != http.StatusTooManyRequests || res.JSON(&body) != nil ||
		body["status"] != "error" || body["message"] == "" || body["correlationId"] == "" || body["category"] != "RATE_LIMITS" {
		t.Fatalf("21st fetch = %+v %s %v", res, res.Body, err)
	}
	if res, err := fetch(other.ID, "/now"); err != nil || res.Status != 200 {
		t.Fatalf("another account's fetch = %+v %v", res, err)
	}
	close(hold)
	done.Wait()
	if res, err := fetch(e.p.ID, "/now"); err != nil || res.Status != 200 {
		t.Fatalf("after the 20 finished = %+v %v", res, err)
	}
}

func TestCardFetchControlAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	b := newCardBackend(t, jsonAnswer(200, `{"summary":"1 referral"}`))
	e.sim.SetCardPermittedURLs(b.srv.URL)
	path := "/portals/" + itoa(e.p.ID) + "/card-fetches"
	r := e.must(e.do("POST", path, "-", map[string]any{"url": b.srv.URL + "/card", "method": "POST", "body": map[string]string{"a": "b"}, "userId": 5, "userEmail": "rep@acme.test"}), 200)
	if r.str("status") != "200" || r.str("body.summary") != "1 referral" || r.str("attempts") != "1" {
		t.Fatalf("control fetch = %s", r)
	}
	if _, body := b.last(); string(body) != `{"a":"b"}` {
		t.Fatalf("body sent = %s", body)
	}
	e.hubspotError(e.do("POST", path, "-", map[string]any{"url": "https://elsewhere.example/card", "userId": 5}), 502, "CARD_FETCH_FAILED")
	e.hubspotError(e.do("POST", path, "-", map[string]any{"url": b.srv.URL}), 400, "VALIDATION_ERROR")
	e.hubspotError(e.do("POST", "/portals/1/card-fetches", "-", map[string]any{"url": b.srv.URL, "userId": 5}), 404, "OBJECT_NOT_FOUND")
}
