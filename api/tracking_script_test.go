package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// TestTrackingScriptIsServed: /js/referflow.js is the embedded script,
// cacheable and revalidated by its ETag, readable from any origin, never
// sniffed; its versioned path is immutable.
func TestTrackingScriptIsServed(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, _ := newTestServer(t, &logs)
	h := srv.Handler()
	do := func(t *testing.T, h http.Handler, method, target string, _ io.Reader, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	rec := do(t, h, http.MethodGet, "/js/referflow.js", nil)
	etag := rec.Header().Get("ETag")
	if rec.Code != http.StatusOK || rec.Body.String() != string(trackingScript) || etag != `"`+TrackingScriptVersion+`"` {
		t.Fatalf("GET /js/referflow.js = %d, ETag %q, %d bytes", rec.Code, etag, rec.Body.Len())
	}
	for k, want := range map[string]string{
		"Content-Type":                 "application/javascript; charset=utf-8",
		"Cache-Control":                "public, max-age=300",
		"X-Content-Type-Options":       "nosniff",
		"Access-Control-Allow-Origin":  "*",
		"Cross-Origin-Resource-Policy": "cross-origin",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if n := len(trackingScript); n > 10<<10 {
		t.Errorf("the script is %d bytes; keep it a few KB", n)
	}

	// A browser revalidating its copy gets 304 without the body.
	for _, inm := range []string{etag, "W/" + etag, `"old", ` + etag, "*"} {
		req := do(t, h, http.MethodGet, "/js/referflow.js", nil, "If-None-Match", inm)
		if req.Code != http.StatusNotModified || req.Body.Len() != 0 || req.Header().Get("ETag") != etag {
			t.Errorf("If-None-Match %s = %d (%d bytes)", inm, req.Code, req.Body.Len())
		}
	}
	if rec := do(t, h, http.MethodGet, "/js/referflow.js", nil, "If-None-Match", `"old"`); rec.Code != http.StatusOK {
		t.Errorf("an outdated ETag = %d, want the script", rec.Code)
	}

	// The versioned path: the same bytes, cached for good.
	rec = do(t, h, http.MethodGet, "/js/referflow."+TrackingScriptVersion+".js", nil)
	if rec.Code != http.StatusOK || rec.Body.String() != string(trackingScript) || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("versioned script = %d %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	for _, path := range []string{"/js/referflow.0123456789abcdef.js", "/js/other.js"} {
		if rec := do(t, h, http.MethodGet, path, nil); rec.Code != http.StatusNotFound {
			t.Errorf("%s = %d, want 404", path, rec.Code)
		}
	}
	if rec := do(t, h, http.MethodHead, "/js/referflow.js", nil); rec.Code != http.StatusOK || rec.Header().Get("ETag") != etag {
		t.Errorf("HEAD = %d", rec.Code)
	}
}

// runTrackingScript runs a scenario of testdata/tracking_script_harness.js:
// the served script, in Node, with a document and cookie jar of its own.
func runTrackingScript(t *testing.T, scenario string, env ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the tracking script is not run")
	}
	cmd := exec.Command(node, "testdata/tracking_script_harness.js", "assets/referflow.js", scenario)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "ok") {
		t.Fatalf("scenario %s: %v\n%s", scenario, err, out)
	}
	return string(out)
}

// TestTrackingScriptKeepsTheCode: the script keeps the referral code of
// the landing URL in a cookie on the customer's domain, for the campaign's
// window, first or last touch as the campaign says (fetched, so a changed
// setting applies), and calls referflow neither when no link was followed
// nor to convert without a code.
func TestTrackingScriptKeepsTheCode(t *testing.T) {
	t.Parallel()
	for _, scenario := range []string{"capture", "lastTouch", "firstTouch", "settingChanged", "noCode"} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			runTrackingScript(t, scenario)
		})
	}
}

// TestTrackingScriptConverts: the script against the real server.
// convert() resolves with referflow's answer and the referral is kept; a
// marked form is sent on submit, at once, without holding the submission;
// referflow's refusals reject with its message.
func TestTrackingScriptConverts(t *testing.T) {
	t.Parallel()
	w := newConversionWorld(t, PublicLimits{})
	env := []string{"REFERFLOW_URL=" + w.url, "KEY=" + w.fx.Campaign.PublishableKey, "CODE=" + w.fx.Member.ReferralCode, "PAGE=" + shopOrigin + "/landing"}
	out := runTrackingScript(t, "convertReal", env...)
	for email, first := range map[string]string{"zoe@globex.example": "Zoë", "form@globex.example": "Fé"} {
		refs := w.referralsOf(t, email)
		if len(refs) != 1 || refs[0].MemberID != w.fx.Member.ID || refs[0].Source != "tracking_script" || deref(refs[0].LeadFirstName) != first {
			t.Fatalf("referrals of %s = %+v\n%s", email, refs, out)
		}
	}
	var extID *string
	if err := w.d.Pool.QueryRow(context.Background(), `SELECT external_id FROM referrals WHERE lead_email = 'zoe@globex.example'`).Scan(&extID); err != nil || deref(extID) != "crm-7" {
		t.Fatalf("external_id = %v (%v)", extID, err)
	}
	if refs := w.referralsOf(t, "unmarked@globex.example"); len(refs) != 0 {
		t.Fatal("an unmarked form was sent")
	}
	runTrackingScript(t, "refusedReal", env...)
	if refs := w.referralsOf(t, "evil@globex.example"); len(refs) != 0 {
		t.Fatal("a refused origin's conversion was kept")
	}

	// The script the harness ran is the one served.
	resp, err := http.Get(w.url + "/js/referflow.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served, _ := io.ReadAll(resp.Body)
	if string(served) != string(trackingScript) {
		t.Fatal("the served script is not assets/referflow.js")
	}
}
