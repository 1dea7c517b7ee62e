package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
)

// listFixture is a workspace with two campaigns and referrals in several
// statuses, another workspace with its own referral, and an admin's client.
type listFixture struct {
	d       *testenv.Database
	fx      testenv.ReferralFixture
	api     adminClient
	other   testenv.ReferralFixture
	camp2   db.Campaign
	member2 db.Member
	// byEmail maps each lead email to its referral.
	byEmail map[string]db.Referral
}

func newListFixture(t *testing.T) listFixture {
	t.Helper()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	ctx := context.Background()
	f := listFixture{d: d, fx: d.SeedReferral(t), other: d.SeedReferral(t), byEmail: map[string]db.Referral{}}
	f.byEmail[f.fx.Referral.LeadEmail] = f.fx.Referral
	var err error
	if f.camp2, err = d.Queries.CampaignCreate(ctx, db.CampaignCreateParams{WorkspaceID: f.fx.Workspace.ID, Name: "Partners"}); err != nil {
		t.Fatal(err)
	}
	if f.member2, err = d.Queries.MemberCreate(ctx, db.MemberCreateParams{
		WorkspaceID: f.fx.Workspace.ID, CampaignID: f.camp2.ID, ReferralCode: "KAI-1", Email: "kai@example.com", Source: "admin",
	}); err != nil {
		t.Fatal(err)
	}
	add := func(camp db.Campaign, m db.Member, email, status string) {
		r, err := d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
			WorkspaceID: camp.WorkspaceID, CampaignID: camp.ID, MemberID: m.ID,
			LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email), Source: "api",
		})
		if err != nil {
			t.Fatal(err)
		}
		if status != "pending" {
			reason := "test"
			if r, err = d.Queries.ReferralUpdateStatus(ctx, db.ReferralUpdateStatusParams{ID: r.ID, ExpectedStatus: "pending", NewStatus: status, DeniedReason: &reason}); err != nil {
				t.Fatal(err)
			}
		}
		f.byEmail[email] = r
	}
	add(f.fx.Campaign, f.fx.Member, "Ana.Lopez+spring@gmail.com", "qualified")
	add(f.fx.Campaign, f.fx.Member, "bo@example.org", "denied")
	add(f.fx.Campaign, f.fx.Member, "cy@example.net", "approved")
	add(f.camp2, f.member2, "dee@example.com", "pending")
	add(f.camp2, f.member2, "eli@example.com", "qualified")
	add(f.camp2, f.member2, "fay@example.com", "pending")

	_, key, err := adminauth.CreateAdmin(ctx, d.Queries, f.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	f.api = adminClient{t: t, h: srv.Handler(), key: key}
	return f
}

func listReferrals(t *testing.T, api adminClient, query string) ReferralList {
	t.Helper()
	rec := api.call("GET", "/api/v1/referrals?"+query, "")
	var l ReferralList
	if err := json.Unmarshal(rec.Body.Bytes(), &l); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("list referrals?%s = %d %s", query, rec.Code, rec.Body)
	}
	return l
}

func emails(l ReferralList) []string {
	var out []string
	for _, r := range l.Referrals {
		out = append(out, r.LeadEmail)
	}
	slices.Sort(out)
	return out
}

// TestReferralListFiltersAndPages lists a workspace's referrals from
// Postgres: each filter, the mailbox match on email, newest first, keyset
// pages that neither skip nor repeat, and never another workspace's.
func TestReferralListFiltersAndPages(t *testing.T) {
	t.Parallel()
	f := newListFixture(t)

	all := listReferrals(t, f.api, "")
	if len(all.Referrals) != 7 || all.NextCursor != nil {
		t.Fatalf("all = %d referrals, next %v; want 7 and no next page", len(all.Referrals), all.NextCursor)
	}
	for i := 1; i < len(all.Referrals); i++ {
		a, b := all.Referrals[i-1], all.Referrals[i]
		if a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID) {
			t.Fatalf("not newest first: %s (%s) before %s (%s)", a.LeadEmail, a.CreatedAt, b.LeadEmail, b.CreatedAt)
		}
	}
	for _, r := range all.Referrals {
		if r.ID == f.other.Referral.ID.String() {
			t.Fatal("another workspace's referral is listed")
		}
		if want := "http://localhost:8233/namespaces/default/workflows/referral%2F" + r.ID; r.WorkflowURL != want {
			t.Fatalf("workflow_url = %q, want %q", r.WorkflowURL, want)
		}
	}

	for query, want := range map[string][]string{
		"campaign_id=" + f.camp2.ID.String():                      {"dee@example.com", "eli@example.com", "fay@example.com"},
		"status=qualified":                                        {"Ana.Lopez+spring@gmail.com", "eli@example.com"},
		"status=QUALIFIED&campaign_id=" + f.camp2.ID.String():     {"eli@example.com"},
		"member_id=" + f.fx.Member.ID.String() + "&status=denied": {"bo@example.org"},
		"email=" + url.QueryEscape("analopez@gmail.com"):          {"Ana.Lopez+spring@gmail.com"},
		"email=" + url.QueryEscape("ANA.LOPEZ@googlemail.com"):    {"Ana.Lopez+spring@gmail.com"},
		"email=" + url.QueryEscape("Leo@Example.org"):             {"leo@example.org"},
		"email=nobody@example.org":                                nil,
		"campaign_id=" + f.other.Campaign.ID.String():             nil, // another workspace's campaign
		"member_id=" + f.member2.ID.String() + "&status=approved": nil,
	} {
		if got := emails(listReferrals(t, f.api, query)); !slices.Equal(got, want) {
			t.Errorf("?%s = %v, want %v", query, got, want)
		}
	}

	// Pages of 2 walk the same list in the same order, then stop.
	var paged []string
	query := "limit=2"
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("paging does not end")
		}
		l := listReferrals(t, f.api, query)
		if len(l.Referrals) > 2 {
			t.Fatalf("page of %d, limit 2", len(l.Referrals))
		}
		for _, r := range l.Referrals {
			paged = append(paged, r.ID)
		}
		if l.NextCursor == nil {
			break
		}
		query = "limit=2&cursor=" + url.QueryEscape(*l.NextCursor)
	}
	var want []string
	for _, r := range all.Referrals {
		want = append(want, r.ID)
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged = %v\nwant    %v", paged, want)
	}
	// A filter holds across pages.
	first := listReferrals(t, f.api, "status=pending&limit=2")
	if len(first.Referrals) != 2 || first.NextCursor == nil {
		t.Fatalf("first pending page = %+v", first)
	}
	second := listReferrals(t, f.api, "status=pending&limit=2&cursor="+url.QueryEscape(*first.NextCursor))
	if len(second.Referrals) != 1 || second.NextCursor != nil || second.Referrals[0].Status != referral.Pending {
		t.Fatalf("second pending page = %+v", second)
	}

	// One referral carries its Web UI link too.
	one := getReferralView(t, f.api, f.fx.Referral.ID.String())
	if one.WorkflowURL != "http://localhost:8233/namespaces/default/workflows/referral%2F"+f.fx.Referral.ID.String() {
		t.Fatalf("workflow_url of one referral = %q", one.WorkflowURL)
	}
}

// TestReferralListRefusesBadParameters: each bad value is a 400 naming its
// parameter, all of them at once.
func TestReferralListRefusesBadParameters(t *testing.T) {
	t.Parallel()
	f := newListFixture(t)
	salesCursor := *pageCursor{Kind: "sales_entries", ID: "12"}.encode()
	for query, fields := range map[string][]string{
		"status=shipped":                      {"status"},
		"campaign_id=42":                      {"campaign_id"},
		"member_id=not-a-uuid&status=pending": {"member_id"},
		"limit=0":                             {"limit"},
		"limit=201":                           {"limit"},
		"limit=ten":                           {"limit"},
		"cursor=!!!":                          {"cursor"},
		"cursor=bm90LWpzb24":                  {"cursor"},
		"cursor=" + salesCursor:               {"cursor"},
		"campaign=x":                          {"campaign"},
		"status=a&status=b":                   {"status"},
		"email=ana":                           {"email"},
		"status=x&limit=-1&campaign_id=y":     {"status", "limit", "campaign_id"},
	} {
		rec := f.api.call("GET", "/api/v1/referrals?"+query, "")
		e := decodeError(t, rec)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("?%s = %d, want 400", query, rec.Code)
			continue
		}
		for _, field := range fields {
			if e.Fields[field] == "" || !strings.Contains(e.Message, field) {
				t.Errorf("?%s: error %+v does not name %s", query, e, field)
			}
		}
		if len(e.Fields) != len(fields) {
			t.Errorf("?%s: fields %v, want exactly %v", query, e.Fields, fields)
		}
	}
	if rec := f.api.call("GET", "/api/v1/referrals", ""); rec.Code != http.StatusOK {
		t.Fatalf("no parameters = %d", rec.Code)
	}
	// Without a key: 401, as every admin route.
	rec := do(t, f.api.h, "GET", "/api/v1/referrals", nil)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("no API key = %d", rec.Code)
	}
}

// TestReferralListPeriod: since and until keep the referrals added in a
// period, across pages, and a period that ends before it starts is refused.
func TestReferralListPeriod(t *testing.T) {
	t.Parallel()
	f := newListFixture(t)
	ctx := context.Background()
	for email, at := range map[string]string{"bo@example.org": "2026-01-10T09:00:00Z", "cy@example.net": "2026-01-20T09:00:00Z"} {
		if _, err := f.d.Pool.Exec(ctx, `UPDATE referrals SET created_at = $2 WHERE id = $1`, f.byEmail[email].ID, at); err != nil {
			t.Fatal(err)
		}
	}
	for query, want := range map[string][]string{
		"since=2026-01-05T00:00:00Z&until=2026-01-15T00:00:00Z": {"bo@example.org"},
		"until=2026-01-25T00:00:00Z":                            {"bo@example.org", "cy@example.net"},
		"since=2026-01-15T00:00:00Z&until=2026-02-01T00:00:00Z": {"cy@example.net"},
		"until=2026-01-20T09:00:00Z":                            {"bo@example.org"}, // before: not at
		"since=2026-01-20T09:00:00Z&until=2026-01-21T00:00:00Z": {"cy@example.net"}, // at or after
		"since=2025-01-01T00:00:00Z&until=2025-12-31T00:00:00Z": nil,
	} {
		if got := emails(listReferrals(t, f.api, query)); !slices.Equal(got, want) {
			t.Errorf("?%s = %v, want %v", query, got, want)
		}
	}
	first := listReferrals(t, f.api, "since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z&limit=1")
	if len(first.Referrals) != 1 || first.Referrals[0].LeadEmail != "cy@example.net" || first.NextCursor == nil {
		t.Fatalf("first page of the period = %+v", first)
	}
	second := listReferrals(t, f.api, "since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z&limit=1&cursor="+url.QueryEscape(*first.NextCursor))
	if len(second.Referrals) != 1 || second.Referrals[0].LeadEmail != "bo@example.org" || second.NextCursor != nil {
		t.Fatalf("second page of the period = %+v", second)
	}
	for query, field := range map[string]string{
		"since=yesterday": "since",
		"since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z": "until",
	} {
		rec := f.api.call("GET", "/api/v1/referrals?"+query, "")
		if e := decodeError(t, rec); rec.Code != http.StatusBadRequest || e.Fields[field] == "" {
			t.Errorf("?%s = %d %+v, want 400 naming %s", query, rec.Code, e, field)
		}
	}
}
