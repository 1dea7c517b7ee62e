package api

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// The dashboard lists what needs the admin, each with its link: the review
// queue, failed webhook deliveries and a campaign whose setup is required.
func TestAdminDashboardNeedsAttention(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	ctx := context.Background()
	b := signInAdmin(t, srv, d, fx.Workspace, "ops@acme.test")

	if page := b.get("/admin", http.StatusOK); !strings.Contains(page, "Nothing: HubSpot is connected") {
		t.Fatalf("the dashboard of a quiet workspace:\n%s", page)
	}

	if _, err := d.Queries.ReviewEntryCreate(ctx, db.ReviewEntryCreateParams{WorkspaceID: fx.Workspace.ID, CampaignID: &fx.Campaign.ID,
		ReferralID: &fx.Referral.ID, Reason: string(review.NoMemberMatch)}); err != nil {
		t.Fatal(err)
	}
	ev := outgoing.Event{ID: "reward.issued:1", Type: webhookdelivery.EventRewardIssued, CreatedAt: time.Now(), Data: map[string]int{"n": 1}}
	if _, err := webhookdelivery.Enqueue(ctx, d.Queries, fx.Workspace.ID, fx.Campaign.ID, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', failed_at = now(), attempt_count = 1 WHERE workspace_id = $1`, fx.Workspace.ID); err != nil {
		t.Fatal(err)
	}
	s := campaign.Defaults()
	s.Leads.Action = campaign.ActionCreateContact
	d.SetCampaignSettings(t, fx.Campaign, s)

	page := b.get("/admin", http.StatusOK)
	for _, want := range []string{
		"1 entry waits in the review queue.", `href="/admin/review"`,
		"1 webhook delivery failed", `href="/admin/deliveries?status=failed"`,
		`Campaign &#34;Spring referrals&#34; needs setup: 2 fields are missing.`, `href="/admin/campaigns/` + fx.Campaign.ID.String() + `"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the dashboard lacks %q", want)
		}
	}

	// The last day's numbers: the seeded member and referral joined today.
	for _, want := range []string{`<th scope="row">Members joined</th><td class="admin-num">0</td><td class="admin-num">1</td>`,
		`<th scope="row">Referrals added</th><td class="admin-num">0</td><td class="admin-num">1</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the dashboard's numbers lack %q", want)
		}
	}

	// Another workspace sees none of it.
	other := d.SeedReferral(t)
	if page := signInAdmin(t, srv, d, other.Workspace, "ops@other.test").get("/admin", http.StatusOK); !strings.Contains(page, "Nothing: HubSpot is connected") {
		t.Fatalf("another workspace's dashboard shows this one's problems:\n%s", page)
	}
}

// Campaigns: created from the list page (the JSON API's validation refuses
// an empty or taken name, shown next to the field), set up section by
// section with the problems of the same validation next to each field, and
// the "setup required" banner naming what is missing until it is not.
func TestAdminCampaignPages(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	fx := d.SeedReferral(t)
	b := signInAdmin(t, srv, d, fx.Workspace, "ops@acme.test")

	list := b.get("/admin/campaigns", http.StatusOK)
	if !strings.Contains(list, `href="/admin/campaigns/`+fx.Campaign.ID.String()+`">Spring referrals</a>`) || !strings.Contains(list, `aria-current="page">Campaigns</a>`) {
		t.Fatalf("the campaign list:\n%s", list)
	}
	for name, want := range map[string]string{"": "must not be empty", "  ": "must not be empty", "Spring referrals": "is already used"} {
		rec := b.post("/admin/campaigns", "/admin/campaigns", url.Values{"name": {name}})
		if rec.Code != http.StatusUnprocessableEntity && rec.Code != http.StatusConflict {
			t.Fatalf("create %q = %d", name, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), `<p class="admin-field-error" id="f-name-error">`+want) || !strings.Contains(rec.Body.String(), `aria-invalid="true"`) {
			t.Errorf("create %q: no %q next to the name:\n%s", name, want, rec.Body)
		}
	}
	rec := b.post("/admin/campaigns", "/admin/campaigns", url.Values{"name": {"Summer"}})
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/admin/campaigns/") {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	path := rec.Header().Get("Location")
	id := strings.TrimPrefix(path, "/admin/campaigns/")
	overview := b.get(path, http.StatusOK)
	if !strings.Contains(overview, "Campaign &#34;Summer&#34; created as a draft") || !strings.Contains(overview, `id="campaign-status">draft<`) ||
		strings.Contains(overview, `id="setup-required"`) {
		t.Fatalf("the new campaign's page:\n%s", overview)
	}

	// Leads: creating contacts without the rows they need is saved, and the
	// banner says what is missing.
	leads := path + "/leads"
	rec = b.post(leads, leads, url.Values{"leads.action": {"create_contact"}, "leads.duplicate_handling": {"do_nothing"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("save leads = %d %s", rec.Code, rec.Body)
	}
	page := b.get(leads, http.StatusOK)
	if !strings.Contains(page, "Leads saved.") || !strings.Contains(page, `id="setup-required"`) || !strings.Contains(page, "leads: a field-mapping row for the contact property email") {
		t.Fatalf("the leads page after saving an incomplete mapping:\n%s", page)
	}
	// A wrong row: the validation's problem is next to its field, the form
	// keeps what was typed, nothing is saved.
	rec = b.post(leads, leads, url.Values{"leads.action": {"create_contact"}, "leads.duplicate_handling": {"do_nothing"},
		"leads.field_mapping[0].target": {"contact.Not A Property"}, "leads.field_mapping[0].source": {"email"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `id="f-leads-field_mapping-0-target-error">must be a HubSpot internal property name`) ||
		!strings.Contains(rec.Body.String(), `value="contact.Not A Property"`) {
		t.Fatalf("a wrong row = %d:\n%s", rec.Code, rec.Body)
	}
	// The rows that were missing: the banner goes.
	rec = b.post(leads, leads, url.Values{"leads.action": {"create_contact"}, "leads.duplicate_handling": {"update_existing"},
		"leads.field_mapping[0].target": {"contact.email"}, "leads.field_mapping[0].source": {"email"},
		"leads.field_mapping[1].target": {""}, // an empty row is left out
		"leads.field_mapping[2].target": {"contact.firstname"}, "leads.field_mapping[2].source": {"first_name"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("save the full mapping = %d %s", rec.Code, rec.Body)
	}
	if page := b.get(leads, http.StatusOK); strings.Contains(page, `id="setup-required"`) {
		t.Fatalf("the banner stays once the rows exist:\n%s", page)
	}
	row := campaignByID(t, d, id)
	settings, err := activities.CampaignSettings(row)
	if err != nil {
		t.Fatal(err)
	}
	if settings.Leads.Action != "create_contact" || settings.Leads.DuplicateHandling != "update_existing" || len(settings.Leads.FieldMapping) != 2 ||
		settings.Leads.FieldMapping[1] != (campaign.FieldMapping{Object: "contact", Property: "firstname", Source: "first_name"}) {
		t.Fatalf("saved leads: %+v", settings.Leads)
	}

	// Status rules and rewards, and the JSON API reads what the pages saved.
	rules := path + "/status-rules"
	rec = b.post(rules, rules, url.Values{"status_rules.approved.target": {"contact.lifecyclestage"}, "status_rules.approved.values": {"customer"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("save status rules = %d %s", rec.Code, rec.Body)
	}
	rewards := path + "/rewards"
	rec = b.post(rewards, rewards, url.Values{"rewards.on_status": {"approved"}, "rewards.hold_days": {"abc"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `id="f-rewards-hold_days-error"`) {
		t.Fatalf("a hold of abc days = %d:\n%s", rec.Code, rec.Body)
	}
	rec = b.post(rewards, rewards, url.Values{"rewards.on_status": {"approved"}, "rewards.member.kind": {"fixed"}, "rewards.member.amount": {"50"}, "rewards.member.currency": {"usd"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("save rewards = %d %s", rec.Code, rec.Body)
	}
	settings, _ = activities.CampaignSettings(campaignByID(t, d, id))
	if r := settings.StatusRules.Approved; r == nil || r.Property != "lifecyclestage" || len(r.Values) != 1 || r.Values[0] != "customer" {
		t.Fatalf("saved status rules: %+v", settings.StatusRules)
	}
	if m := settings.Rewards.Member; m == nil || m.Amount != "50" || m.Currency != "USD" {
		t.Fatalf("saved rewards: %+v", settings.Rewards)
	}

	// Activating from the overview.
	rec = b.post(path, path+"/details", url.Values{"status": {"active"}})
	if rec.Code != http.StatusSeeOther || !strings.Contains(b.get(path, http.StatusOK), `id="campaign-status">active<`) {
		t.Fatalf("activate = %d %s", rec.Code, rec.Body)
	}
}

// Every campaign page and action of another workspace's campaign is a 404,
// like an unknown ID, and changes nothing.
func TestAdminCampaignPagesOfAnotherWorkspaceAreNotFound(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	srv, d := newTestServer(t, &logs)
	mine := d.SeedReferral(t)
	theirs := d.SeedReferral(t)
	b := signInAdmin(t, srv, d, mine.Workspace, "ops@acme.test")
	token := b.csrf("/admin/campaigns")

	for _, id := range []string{theirs.Campaign.ID.String(), "00000000-0000-0000-0000-000000000000", "not-an-id"} {
		base := "/admin/campaigns/" + id
		for _, path := range []string{base, base + "/leads", base + "/status-rules", base + "/public"} {
			if rec := b.send(http.MethodGet, path, nil); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "<h1>Not found</h1>") {
				t.Errorf("GET %s = %d", path, rec.Code)
			}
		}
		for path, form := range map[string]url.Values{
			base + "/details": {"status": {"archived"}},
			base + "/leads":   {"leads.action": {"none"}},
			base + "/public":  {"public.slug": {"taken"}},
		} {
			form.Set(csrfField, token)
			if rec := b.send(http.MethodPost, path, form); rec.Code != http.StatusNotFound {
				t.Errorf("POST %s = %d", path, rec.Code)
			}
		}
	}
	if row := campaignByID(t, d, theirs.Campaign.ID.String()); row.Status != "active" || row.UpdatedAt != theirs.Campaign.UpdatedAt {
		t.Fatalf("the other workspace's campaign changed: %+v", row)
	}
	if page := b.get("/admin/campaigns", http.StatusOK); strings.Contains(page, theirs.Campaign.ID.String()) {
		t.Fatal("the campaign list shows another workspace's campaign")
	}
}

func campaignByID(t *testing.T, d *testenv.Database, id string) db.Campaign {
	t.Helper()
	row, err := d.Queries.CampaignGetByID(context.Background(), uuid.MustParse(id))
	if err != nil {
		t.Fatal(err)
	}
	return row
}
