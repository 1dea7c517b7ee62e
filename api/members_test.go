package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/db"
)

// A member's HubSpot contact shows in the member view once referflow knows
// it, as a referral's does; before that the field is left out.
func TestMemberViewCarriesTheHubSpotContactID(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	path := "/api/v1/campaigns/" + w.fx.Campaign.ID.String() + "/members"
	list := func() MemberView {
		t.Helper()
		rec := w.api.call("GET", path, "")
		var out struct {
			Members []json.RawMessage `json:"members"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("list members = %d %s", rec.Code, rec.Body)
		}
		for _, raw := range out.Members {
			var m MemberView
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			if m.ID == w.fx.Member.ID.String() {
				if m.HubSpotContactID == "" && strings.Contains(string(raw), "hubspot_contact_id") {
					t.Fatalf("an unknown contact is shown: %s", raw)
				}
				return m
			}
		}
		t.Fatalf("member %s not listed", w.fx.Member.ID)
		return MemberView{}
	}
	if m := list(); m.HubSpotContactID != "" {
		t.Fatalf("member without a contact shows %q", m.HubSpotContactID)
	}
	contact := int64(90210)
	if _, err := w.d.Queries.MemberSetHubSpotContact(context.Background(), db.MemberSetHubSpotContactParams{ID: w.fx.Member.ID, HubspotContactID: &contact}); err != nil {
		t.Fatal(err)
	}
	if m := list(); m.HubSpotContactID != strconv.FormatInt(contact, 10) {
		t.Fatalf("hubspot_contact_id = %q, want %d", m.HubSpotContactID, contact)
	}
}

// A campaign's members come a page at a time, newest first, each once,
// and a search finds members by a part of their email or name in any case,
// or by their code; a wildcard in the search is a plain character.
func TestMemberListPagesAndSearches(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	ctx := context.Background()
	if _, err := w.d.Pool.Exec(ctx, `
		INSERT INTO members (workspace_id, campaign_id, referral_code, email, first_name, source, created_at)
		SELECT $1, $2, 'CODE' || g, 'person' || g || '@example.com', CASE WHEN g % 10 = 0 THEN 'Zoë' ELSE 'Sam' END,
		       'admin', now() - g * interval '1 minute'
		FROM generate_series(1, 120) g`, w.fx.Workspace.ID, w.fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/campaigns/" + w.fx.Campaign.ID.String() + "/members"
	list := func(query string) MemberList {
		t.Helper()
		rec := w.api.call("GET", base+query, "")
		var out MemberList
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			t.Fatalf("GET %s = %d %s", query, rec.Code, rec.Body)
		}
		return out
	}

	seen := map[string]bool{}
	var last time.Time
	pages, query := 0, "?limit=50"
	for {
		page := list(query)
		pages++
		for _, m := range page.Members {
			if seen[m.ID] {
				t.Fatalf("member %s listed twice", m.ID)
			}
			seen[m.ID] = true
			if !last.IsZero() && m.CreatedAt.After(last) {
				t.Fatalf("member %s is newer than the one before it", m.ID)
			}
			last = m.CreatedAt
		}
		if page.NextCursor == nil {
			break
		}
		query = "?limit=50&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	if len(seen) != 121 || pages != 3 {
		t.Fatalf("listed %d members in %d pages, want 121 in 3", len(seen), pages)
	}
	if got := list("").Members; len(got) != defaultPageSize {
		t.Fatalf("default page = %d members", len(got))
	}

	if got := list("?q=ZO%C3%8B").Members; len(got) != 12 {
		t.Fatalf("q=ZOË found %d members, want the 12 named Zoë", len(got))
	}
	if got := list("?q=PERSON7%40example").Members; len(got) != 1 || got[0].Email != "person7@example.com" {
		t.Fatalf("q=PERSON7@example found %+v", got)
	}
	if got := list("?q=CODE42").Members; len(got) != 1 || got[0].ReferralCode != "CODE42" {
		t.Fatalf("q=CODE42 found %+v", got)
	}
	if got := list("?q=%25").Members; len(got) != 0 {
		t.Fatalf("q=%% found %d members, want none (it is not a wildcard)", len(got))
	}

	for query, field := range map[string]string{"?limit=0": "limit", "?limit=201": "limit", "?cursor=nope": "cursor", "?colour=red": "colour"} {
		rec := w.api.call("GET", base+query, "")
		if rec.Code != http.StatusBadRequest || decodeError(t, rec).Fields[field] == "" {
			t.Fatalf("GET %s = %d %s, want 400 naming %s", query, rec.Code, rec.Body, field)
		}
	}
	other := w.d.SeedReferral(t)
	if rec := w.api.call("GET", "/api/v1/campaigns/"+other.Campaign.ID.String()+"/members", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("another workspace's campaign = %d", rec.Code)
	}
}
