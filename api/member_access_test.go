package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
)

// tokenServer is a server that only signs and checks access tokens.
func tokenServer(t *testing.T, key []byte) *Server {
	t.Helper()
	public, _ := url.Parse("https://refer.acme.test")
	srv := New(Deps{Logger: slog.New(slog.DiscardHandler), EncryptionKey: key, PublicURL: public})
	t.Cleanup(srv.clicks.close)
	return srv
}

func TestMemberAccessTokenRoundTrip(t *testing.T) {
	t.Parallel()
	srv := tokenServer(t, testEncryptionKey)
	member := db.Member{ID: uuid.New()}
	link, expires := srv.memberAccessURL(member, DefaultMemberAccessTTL)
	token, ok := strings.CutPrefix(link, "https://refer.acme.test/m/")
	if !ok {
		t.Fatalf("access link %q is not <PUBLIC_URL>/m/{token}", link)
	}
	if url.PathEscape(token) != token {
		t.Fatalf("token %q is not URL-safe", token)
	}
	if d := time.Until(expires); d < DefaultMemberAccessTTL-time.Minute || d > DefaultMemberAccessTTL {
		t.Fatalf("expires in %v, want %v", d, DefaultMemberAccessTTL)
	}
	id, exp, err := srv.parseMemberAccessToken(token, time.Now())
	if err != nil || id != member.ID || !exp.Equal(expires) {
		t.Fatalf("parse = %v %v %v, want %v %v", id, exp, err, member.ID, expires)
	}

	// Expired: the moment it expires, and after; it still names its member
	// (the page then says where to get a new link).
	if id, _, err := srv.parseMemberAccessToken(token, expires); err != errAccessExpired || id != member.ID {
		t.Fatalf("at expiry: %v %v, want errAccessExpired for the member", id, err)
	}
	if _, _, err := srv.parseMemberAccessToken(srv.memberAccessToken(member.ID, time.Now().Add(-time.Second)), time.Now()); err != errAccessExpired {
		t.Fatalf("a token of a second ago: %v, want errAccessExpired", err)
	}

	// Tampered: every byte of the token changed in turn is refused, the
	// signature, the expiry and the member ID alike.
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x01
		if _, _, err := srv.parseMemberAccessToken(base64.RawURLEncoding.EncodeToString(bad), time.Now()); err != errAccessInvalid {
			t.Fatalf("byte %d changed: %v, want errAccessInvalid", i, err)
		}
	}
	// Another member's ID under this member's signature.
	other := uuid.New()
	swapped := append([]byte(nil), raw...)
	copy(swapped[1:17], other[:])
	if _, _, err := srv.parseMemberAccessToken(base64.RawURLEncoding.EncodeToString(swapped), time.Now()); err != errAccessInvalid {
		t.Fatalf("another member's ID with this signature: %v", err)
	}
	// A later expiry under the same signature.
	longer := append([]byte(nil), raw...)
	longer[17]++
	if _, _, err := srv.parseMemberAccessToken(base64.RawURLEncoding.EncodeToString(longer), time.Now()); err != errAccessInvalid {
		t.Fatalf("extended expiry: %v", err)
	}
	for _, bad := range []string{"", "x", token[:len(token)-1], token + "A", token + "=", strings.ToUpper(token), "../" + token[3:], uuid.NewString()} {
		if _, _, err := srv.parseMemberAccessToken(bad, time.Now()); err != errAccessInvalid {
			t.Fatalf("token %q: %v, want errAccessInvalid", bad, err)
		}
	}
	// Signed under another encryption key.
	if _, _, err := tokenServer(t, []byte("another-key-0123456789abcdef0123")).parseMemberAccessToken(token, time.Now()); err != errAccessInvalid {
		t.Fatalf("another key: %v", err)
	}
	// The same key (another process, a restart) accepts it.
	if id, _, err := tokenServer(t, testEncryptionKey).parseMemberAccessToken(token, time.Now()); err != nil || id != member.ID {
		t.Fatalf("same key, another server: %v %v", id, err)
	}
}

func TestMemberAccessLinkAdminEndpoint(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	path := "/api/v1/members/" + w.fx.Member.ID.String() + "/access-link"

	if rec := do(t, w.srv.Handler(), "POST", path, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("without an API key: %d", rec.Code)
	}
	decode := func(code int, body []byte) AccessLinkView {
		t.Helper()
		if code != http.StatusCreated {
			t.Fatalf("access link = %d %s, want 201", code, body)
		}
		var v AccessLinkView
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	// No body: the default lifetime.
	rec := w.api.call("POST", path, "")
	v := decode(rec.Code, rec.Body.Bytes())
	if d := time.Until(v.ExpiresAt); d < DefaultMemberAccessTTL-time.Minute || d > DefaultMemberAccessTTL {
		t.Fatalf("default link expires in %v", d)
	}
	token, ok := strings.CutPrefix(v.URL, "http://localhost:8080/m/")
	if !ok {
		t.Fatalf("url %q", v.URL)
	}
	page := do(t, w.srv.Handler(), "GET", "/m/"+token, nil)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "/r/"+w.fx.Member.ReferralCode) {
		t.Fatalf("the link's page = %d %s", page.Code, page.Body)
	}

	// A lifetime asked for, within bounds.
	rec = w.api.call("POST", path, `{"expires_in_hours": 2}`)
	v = decode(rec.Code, rec.Body.Bytes())
	if d := time.Until(v.ExpiresAt); d < 2*time.Hour-time.Minute || d > 2*time.Hour {
		t.Fatalf("2-hour link expires in %v", d)
	}
	for _, body := range []string{`{"expires_in_hours": 0}`, `{"expires_in_hours": -1}`, `{"expires_in_hours": 2161}`} {
		rec := w.api.call("POST", path, body)
		if rec.Code != http.StatusUnprocessableEntity || decodeError(t, rec).Fields["expires_in_hours"] == "" {
			t.Fatalf("%s: %d %s, want 422 on expires_in_hours", body, rec.Code, rec.Body)
		}
	}
	if rec := w.api.call("POST", path, `{"expires_in": 2}`); rec.Code/100 != 4 {
		t.Fatalf("unknown field: %d %s", rec.Code, rec.Body)
	}

	// Another workspace's admin, an unknown member, a malformed ID: 404.
	if rec := w.otherWorkspaceAdmin(t).call("POST", path, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("another workspace's member: %d %s", rec.Code, rec.Body)
	}
	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		if rec := w.api.call("POST", "/api/v1/members/"+id+"/access-link", ""); rec.Code != http.StatusNotFound {
			t.Fatalf("member %s: %d %s", id, rec.Code, rec.Body)
		}
	}

	// An archived campaign's members get no link, and their links stop
	// working.
	archived := string(campaign.Archived)
	if _, err := w.d.Queries.CampaignUpdateDetails(context.Background(), db.CampaignUpdateDetailsParams{
		ID: w.fx.Campaign.ID, WorkspaceID: w.fx.Workspace.ID, Status: &archived,
	}); err != nil {
		t.Fatal(err)
	}
	if rec := w.api.call("POST", path, ""); rec.Code != http.StatusConflict {
		t.Fatalf("archived campaign: %d %s, want 409", rec.Code, rec.Body)
	}
	if page := do(t, w.srv.Handler(), "GET", "/m/"+token, nil); page.Code != http.StatusGone || !strings.Contains(page.Body.String(), "has ended") {
		t.Fatalf("a link of an archived campaign = %d %s, want 410", page.Code, page.Body)
	}
}

func TestMemberAccessLinkRefusals(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	h := w.srv.Handler()
	get := func(token string) (int, string) {
		t.Helper()
		rec := do(t, h, "GET", "/m/"+token, nil)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("/m/%s answered %s, want an HTML page", token, ct)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("/m/%s: Cache-Control %q", token, rec.Header().Get("Cache-Control"))
		}
		return rec.Code, rec.Body.String()
	}
	good := w.srv.memberAccessToken(w.fx.Member.ID, time.Now().Add(time.Hour))
	if code, body := get(good); code != http.StatusOK || !strings.Contains(body, "Hello Maya") {
		t.Fatalf("valid link: %d %s", code, body)
	}
	// Expired: 410, saying how to get a new one.
	if code, body := get(w.srv.memberAccessToken(w.fx.Member.ID, time.Now().Add(-time.Minute))); code != http.StatusGone ||
		!strings.Contains(body, "has expired") || !strings.Contains(body, "for a new link") {
		t.Fatalf("expired link: %d %s", code, body)
	}
	// Tampered or made up: 404.
	for _, bad := range []string{good[:len(good)-2] + "AA", "nonsense", strings.Repeat("A", len(good))} {
		if code, body := get(bad); code != http.StatusNotFound || !strings.Contains(body, "not valid") {
			t.Fatalf("link %q: %d %s", bad, code, body)
		}
	}
	// A member deleted: their links stop working (410).
	gone, err := w.d.Queries.MemberCreate(context.Background(), db.MemberCreateParams{
		WorkspaceID: w.fx.Workspace.ID, CampaignID: w.fx.Campaign.ID, ReferralCode: "GONE", Email: "gone@example.com", Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	goneToken := w.srv.memberAccessToken(gone.ID, time.Now().Add(time.Hour))
	if code, _ := get(goneToken); code != http.StatusOK {
		t.Fatalf("before deletion: %d", code)
	}
	if _, err := w.d.Pool.Exec(context.Background(), `DELETE FROM members WHERE id = $1`, gone.ID); err != nil {
		t.Fatal(err)
	}
	if code, body := get(goneToken); code != http.StatusGone || !strings.Contains(body, "no longer works") {
		t.Fatalf("deleted member's link: %d %s", code, body)
	}

	// The token is a credential: the request log names the route only.
	if strings.Contains(w.logs.String(), good) || strings.Contains(w.logs.String(), goneToken) || !strings.Contains(w.logs.String(), `"path":"/m/:token"`) {
		t.Fatalf("request log carries an access token, or not the route:\n%s", w.logs)
	}
}
