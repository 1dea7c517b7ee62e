package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/review"
)

// publicRoutes are the routes with a path parameter that no admin's
// workspace scopes: what they name (a referral code, a publishable key, a
// member's or an unsubscribe token, a script file) is the credential
// itself, and their own tests refuse what is unknown or inactive.
var publicRoutes = []string{
	"/r/:code", "/r/:code/qr.png", "/r/:code/qr.svg",
	"/js/:file",
	// HubSpot's workflow actions: signed by HubSpot, not an admin's; the
	// workspace is the executing portal's (api/hubspot_actions.go).
	"/hubspot/actions/:action",
}

// TestEveryRouteHidesOtherWorkspaces: an admin of one workspace who tries
// another workspace's IDs on any route of the admin API or the admin pages
// gets 404 — the same answer as for an ID that does not exist, so not even
// existence leaks — and no list or page they can read shows anything of the
// other workspace. The routes come from the server itself, so a route added
// later is tried too, and one with a parameter this test cannot fill fails
// it until the test learns what the parameter names.
func TestEveryRouteHidesOtherWorkspaces(t *testing.T) {
	t.Parallel()
	w := newSyncWorkspace(t) // workspace A, the admin's own, connected to HubSpot
	ctx := context.Background()
	q := w.h.db.Queries

	// Workspace B, the other one, with one of everything an ID can name.
	other := w.h.db.SeedReferral(t)
	otherAdmin, _, err := adminauth.CreateAdmin(ctx, q, other.Workspace.ID, "ops@other.test", "")
	if err != nil {
		t.Fatal(err)
	}
	var amount pgtype.Numeric
	if err := amount.Scan("25"); err != nil {
		t.Fatal(err)
	}
	reward, err := q.RewardCreate(ctx, db.RewardCreateParams{
		WorkspaceID: other.Workspace.ID, ReferralID: other.Referral.ID, CampaignID: other.Campaign.ID,
		MemberID: &other.Member.ID, Recipient: "member", Amount: amount, Currency: "USD",
		IdempotencyKey: "isolation-" + uuid.NewString(),
	})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := q.ImportCreate(ctx, db.ImportCreateParams{
		WorkspaceID: other.Workspace.ID, CampaignID: other.Campaign.ID, Kind: "members",
		Header: []string{"email", "first_name"}, CreatedBy: &otherAdmin.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	sync, err := q.SyncCreate(ctx, db.SyncCreateParams{
		ID: uuid.New(), WorkspaceID: other.Workspace.ID, CampaignID: other.Campaign.ID,
		Source: "all_contacts", Mode: "one_time", Mapping: json.RawMessage(`{}`), ReturnFields: json.RawMessage(`{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	entry, err := q.SalesEntryInsert(ctx, db.SalesEntryInsertParams{
		PortalID: 990000 + time.Now().UnixNano()%9999, WorkspaceID: &other.Workspace.ID, DedupeKey: "isolation-" + uuid.NewString(),
		SubscriptionType: "deal.propertyChange", ObjectType: "deal", ObjectID: 7, OccurredAt: time.Now(),
		Payload: json.RawMessage(`{"objectId":7}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	review, err := q.ReviewEntryCreate(ctx, db.ReviewEntryCreateParams{
		WorkspaceID: other.Workspace.ID, CampaignID: &other.Campaign.ID, SalesEntryID: &entry.ID,
		ReferralID: &other.Referral.ID, Reason: string(review.NoMemberMatch), Data: json.RawMessage(`{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	delivery, err := q.WebhookDeliveryInsert(ctx, db.WebhookDeliveryInsertParams{
		WorkspaceID: other.Workspace.ID, CampaignID: other.Campaign.ID, EventID: uuid.NewString(),
		EventType: "referral.approved", Body: []byte(`{}`), CreatedAt: time.Now(), RetryUntil: time.Now().Add(time.Hour),
		Channel: "fulfilment",
	})
	if err != nil {
		t.Fatal(err)
	}

	erasure, err := q.PrivacyErasureInsert(ctx, db.PrivacyErasureInsertParams{
		WorkspaceID: other.Workspace.ID, SubjectHash: strings.Repeat("ab", 16), Source: "admin_api",
		Actor: "admin:" + otherAdmin.ID.String(), WorkflowID: "privacy-erasure/" + strings.Repeat("ab", 16),
	})
	if err != nil {
		t.Fatal(err)
	}

	otherKeys, err := q.AdminAPIKeyListByWorkspace(ctx, other.Workspace.ID)
	if err != nil || len(otherKeys) == 0 {
		t.Fatalf("workspace B's API keys: %v %v", otherKeys, err)
	}

	// What each path parameter names, by the collection before it.
	byCollection := map[string]string{
		"campaigns":          other.Campaign.ID.String(),
		"members":            other.Member.ID.String(),
		"referrals":          other.Referral.ID.String(),
		"imports":            imp.ID.String(),
		"syncs":              sync.ID.String(),
		"sales-entries":      fmt.Sprint(entry.ID),
		"review-entries":     fmt.Sprint(review.ID),
		"webhook-deliveries": fmt.Sprint(delivery.ID),
		"rewards":            reward.ID.String(),
		"deliveries":         delivery.ID.String(),
		"admins":             otherAdmin.ID.String(),
		"api-keys":           otherKeys[0].AdminApiKey.ID.String(),
		"erasures":           erasure.ID.String(),
		// The admin pages' names for the review queue and the Sales
		// Receiver's log.
		"review":         review.ID.String(),
		"sales-receiver": fmt.Sprint(entry.ID),
	}
	// A campaign's setup page is named by its section.
	secondParam := map[string]string{"reward_id": reward.ID.String(), "section": "leads"}
	// Everything of B that must never show in what A reads.
	secrets := []string{other.Campaign.ID.String(), other.Member.ID.String(), other.Referral.ID.String(),
		imp.ID.String(), sync.ID.String(), reward.ID.String(), other.Member.Email, other.Member.ReferralCode,
		otherAdmin.ID.String(), otherAdmin.Email, otherKeys[0].AdminApiKey.ID.String(), otherKeys[0].AdminApiKey.Prefix,
		delivery.ID.String()}

	tried := 0
	for _, r := range w.h.srv.echo.Routes() {
		if !strings.Contains(r.Path, ":") {
			// Nothing to name: what A reads there must not show B's things,
			// even when asked for them by a filter.
			if r.Method != http.MethodGet || slices.Contains([]string{"/healthz", "/readyz", "/metrics", "/login"}, r.Path) {
				continue
			}
			filter := url.Values{"campaign_id": {other.Campaign.ID.String()}, "member_id": {other.Member.ID.String()},
				"referral_id": {other.Referral.ID.String()}}
			code, body := w.isolationRequest(t, r.Method, r.Path+"?"+filter.Encode())
			if code >= 500 {
				t.Errorf("GET %s with B's IDs as filters = %d %s", r.Path, code, truncate(body, 300))
			}
			for _, s := range secrets {
				if s != "" && strings.Contains(body, s) {
					t.Errorf("GET %s with B's IDs as filters shows B's %q", r.Path, s)
				}
			}
			continue
		}
		if slices.Contains(publicRoutes, r.Path) || isPublicPagePath(r.Path) {
			continue
		}
		path, ok := fillParams(r.Path, byCollection, secondParam)
		if !ok {
			t.Errorf("%s %s: the isolation test does not know what its parameters name; teach byCollection", r.Method, r.Path)
			continue
		}
		tried++
		code, body := w.isolationRequest(t, r.Method, path)
		if code != http.StatusNotFound {
			t.Errorf("%s %s with workspace B's IDs = %d %s, want 404", r.Method, r.Path, code, truncate(body, 300))
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(body, s) && !strings.Contains(path, s) {
				t.Errorf("%s %s shows B's %q", r.Method, r.Path, s)
			}
		}
	}
	if tried < 20 {
		t.Fatalf("only %d routes with parameters tried: the route list is not what this test expects", tried)
	}

	// And B's own admin still reaches B's things: the 404s above are about
	// whose they are, not about broken routes.
	_, bKey, err := adminauth.CreateAdmin(ctx, q, other.Workspace.ID, "second@other.test", "")
	if err != nil {
		t.Fatal(err)
	}
	b := apiClient{t: t, url: w.h.url, key: bKey}
	for _, p := range []string{"/api/v1/campaigns/" + other.Campaign.ID.String(), "/api/v1/referrals/" + other.Referral.ID.String(),
		"/api/v1/syncs/" + sync.ID.String(), "/api/v1/imports/" + imp.ID.String(), "/api/v1/review-entries/" + fmt.Sprint(review.ID),
		"/api/v1/sales-entries/" + fmt.Sprint(entry.ID), "/api/v1/webhook-deliveries/" + fmt.Sprint(delivery.ID)} {
		if code, body := b.do("GET", p, ""); code != http.StatusOK {
			t.Errorf("B's own admin: GET %s = %d %s", p, code, truncate(string(body), 300))
		}
	}
}

// isPublicPagePath tells whether a route serves the public pages a campaign
// slug, a member's token or an unsubscribe token names (join page, hosted
// form, member portal, unsubscribe), or the tracking script's endpoint a
// publishable key names.
func isPublicPagePath(path string) bool {
	for _, p := range []string{"/c/:slug", memberPortalPrefix, email.UnsubscribePathPrefix, publicCampaignRoute} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// fillParams puts the other workspace's IDs into a route's parameters:
// ":id" (or any parameter right after a collection) gets the thing of that
// collection, other parameters by name.
func fillParams(route string, byCollection, byName map[string]string) (string, bool) {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		if !strings.HasPrefix(p, ":") {
			continue
		}
		name := p[1:]
		if v, ok := byName[name]; ok {
			parts[i] = v
			continue
		}
		if i == 0 {
			return "", false
		}
		v, ok := byCollection[parts[i-1]]
		if !ok {
			return "", false
		}
		parts[i] = v
	}
	return strings.Join(parts, "/"), true
}

// isolationRequest calls a route as workspace A's admin: with the API key
// on the admin API, as the signed-in browser on the admin pages. Writes
// carry an empty JSON object, or on the admin pages a form with nothing but
// a valid CSRF token: the thing they name must be found (or not) before the
// body is looked at, and past the CSRF check.
func (w *syncWorkspace) isolationRequest(t *testing.T, method, path string) (int, string) {
	t.Helper()
	body := ""
	if isWrite(method) {
		body = "{}"
	}
	if strings.HasPrefix(path, "/api/") {
		code, out := w.a.do(method, path, body)
		return code, string(out)
	}
	contentType := "application/json"
	if isWrite(method) && strings.HasPrefix(path, "/admin") {
		// An admin page's form, as the browser sends it: with the session's
		// CSRF token, so the answer is about the IDs, not the token.
		_, page := open(t, w.browser, w.h.url+"/admin")
		m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the dashboard has no CSRF token:\n%s", page)
		}
		body, contentType = url.Values{csrfField: {m[1]}}.Encode(), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequest(method, w.h.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", w.h.url)
	req.Header.Set("Content-Type", contentType)
	client := *w.browser
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
