package signature

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// The vectors of hubspot-contract.md (HubSpot's docs and client tests).
const (
	secret      = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
	exampleBody = `[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]`
	exampleURI  = "https://www.example.com/webhook_uri"
)

func TestVectors(t *testing.T) {
	if got := V1(secret, []byte(exampleBody)); got != "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de" {
		t.Errorf("v1 = %s", got)
	}
	if got := V2(secret, "GET", exampleURI, nil); got != "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e" {
		t.Errorf("v2 GET = %s", got)
	}
	if got := V2(secret, "POST", exampleURI, []byte(`{"example_field":"example_value"}`)); got != "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900" {
		t.Errorf("v2 POST = %s", got)
	}
	if got := V3(secret, "POST", exampleURI, []byte(`{'example_field':'example_value'}`), "1693657560000"); got != "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=" {
		t.Errorf("v3 = %s", got)
	}
}

func TestDecodeURIDecodesOnlyTheListedCharacters(t *testing.T) {
	in := "https://x.example/a%3Ab%2Fc?q=%40%21%24%27%28%29%2A%2C%3B%20%25"
	want := "https://x.example/a:b/c?q=@!$'()*,;%20%25"
	if got := DecodeURI(in); got != want {
		t.Fatalf("DecodeURI = %s, want %s", got, want)
	}
}

func request(method, target string, body []byte, headers map[string]string) *http.Request {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return r
}

func TestVerifyV3BehindAProxy(t *testing.T) {
	now := time.UnixMilli(1693657560000).Add(2 * time.Minute)
	public, _ := url.Parse("https://www.example.com")
	v := Verifier{Secret: secret, PublicURL: public, Now: func() time.Time { return now }}
	body := []byte(`{'example_field':'example_value'}`)
	sig := "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
	// The server behind the proxy sees http://10.0.0.5:8080/webhook_uri.
	r := request("POST", "http://10.0.0.5:8080/webhook_uri", body, map[string]string{HeaderV3: sig, HeaderTimestamp: "1693657560000"})
	if err := v.Verify(r, body); err != nil {
		t.Fatalf("valid v3 refused: %v", err)
	}

	cases := []struct {
		name string
		ts   string
		sig  string
		body []byte
		want error
	}{
		{"tampered body", "1693657560000", sig, []byte(`{'example_field':'other'}`), ErrMismatch},
		{"wrong signature", "1693657560000", "AAAA" + sig[4:], body, ErrMismatch},
		{"seconds instead of ms", "1693657560", sig, body, ErrStale},
		{"float timestamp", "1693657560000.0", sig, body, ErrTimestamp},
		{"no timestamp", "", sig, body, ErrTimestamp},
	}
	for _, tc := range cases {
		r := request("POST", "http://10.0.0.5:8080/webhook_uri", tc.body, map[string]string{HeaderV3: tc.sig, HeaderTimestamp: tc.ts})
		if err := v.Verify(r, tc.body); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestVerifyV3Age(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	public, _ := url.Parse("https://refer.example.com")
	v := Verifier{Secret: "s3cret", PublicURL: public, Now: func() time.Time { return now }}
	body := []byte(`[{"eventId":1}]`)
	sign := func(at time.Time) *http.Request {
		ts := strconv.FormatInt(at.UnixMilli(), 10)
		return request("POST", "/webhooks/hubspot?x=1", body, map[string]string{
			HeaderV3:        V3("s3cret", "POST", "https://refer.example.com/webhooks/hubspot?x=1", body, ts),
			HeaderTimestamp: ts,
		})
	}
	for _, tc := range []struct {
		age  time.Duration
		want error
	}{
		{0, nil},
		{4*time.Minute + 59*time.Second, nil},
		{5*time.Minute + time.Second, ErrStale},
		{-2 * time.Second, nil},
		{-time.Minute, ErrFuture},
	} {
		if err := v.Verify(sign(now.Add(-tc.age)), body); !errors.Is(err, tc.want) {
			t.Errorf("age %v: err = %v, want %v", tc.age, err, tc.want)
		}
	}
}

func TestVerifyV1AndV2(t *testing.T) {
	public, _ := url.Parse("https://www.example.com")
	v := Verifier{Secret: secret, PublicURL: public}
	body := []byte(exampleBody)
	r := request("POST", "/webhook_uri", body, map[string]string{HeaderV1V2: V1(secret, body), HeaderVersion: "v1"})
	if err := v.Verify(r, body); err != nil {
		t.Fatalf("v1: %v", err)
	}
	// HubSpot's webhook deliveries may carry v1 without a version header.
	r = request("POST", "/webhook_uri", body, map[string]string{HeaderV1V2: V1(secret, body)})
	if err := v.Verify(r, body); err != nil {
		t.Fatalf("v1 without version header: %v", err)
	}
	post := []byte(`{"example_field":"example_value"}`)
	r = request("POST", "/webhook_uri", post, map[string]string{HeaderV1V2: "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900", HeaderVersion: "v2"})
	if err := v.Verify(r, post); err != nil {
		t.Fatalf("v2 vector: %v", err)
	}
	r = request("POST", "/webhook_uri", body, map[string]string{HeaderV1V2: V1("other-secret", body)})
	if err := v.Verify(r, body); !errors.Is(err, ErrMismatch) {
		t.Fatalf("v1 with another secret: %v", err)
	}
	r = request("POST", "/webhook_uri", body, map[string]string{HeaderV1V2: V1(secret, body), HeaderVersion: "v9"})
	if err := v.Verify(r, body); !errors.Is(err, ErrVersion) {
		t.Fatalf("unknown version: %v", err)
	}
	if err := v.Verify(request("POST", "/webhook_uri", body, nil), body); !errors.Is(err, ErrMissing) {
		t.Fatalf("unsigned: %v", err)
	}
}

func TestRequestURLHandlesAPathPrefix(t *testing.T) {
	public, _ := url.Parse("https://corp.example.com/referflow")
	v := Verifier{PublicURL: public}
	stripped := httptest.NewRequest("POST", "/webhooks/hubspot?a=b", nil)
	kept := httptest.NewRequest("POST", "/referflow/webhooks/hubspot?a=b", nil)
	want := "https://corp.example.com/referflow/webhooks/hubspot?a=b"
	if got := v.RequestURL(stripped); got != want {
		t.Errorf("prefix stripped by the proxy: %s", got)
	}
	if got := v.RequestURL(kept); got != want {
		t.Errorf("prefix kept by the proxy: %s", got)
	}
}

func FuzzVerifyNeverPanics(f *testing.F) {
	f.Add("POST", "/webhooks/hubspot", []byte(exampleBody), "sig", "1693657560000", "v1")
	f.Fuzz(func(t *testing.T, method, path string, body []byte, sig, ts, version string) {
		r, err := http.NewRequest("POST", "http://x.example/", bytes.NewReader(body))
		if err != nil {
			return
		}
		r.URL.Path = path
		r.Header.Set(HeaderV3, sig)
		r.Header.Set(HeaderTimestamp, ts)
		r.Header.Set(HeaderVersion, version)
		public, _ := url.Parse("https://refer.example.com")
		_ = Verifier{Secret: secret, PublicURL: public}.Verify(r, body)
		r.Header.Del(HeaderV3)
		r.Header.Set(HeaderV1V2, sig)
		_ = Verifier{Secret: secret, PublicURL: public}.Verify(r, body)
	})
}
