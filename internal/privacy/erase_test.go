package privacy_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/privacy"
	"github.com/referflow/referflow/internal/referral"
)

// forgotten records the emails Erase asked the keyring to forget, and
// proves it was asked inside the erasure's transaction.
type forgotten struct{ emails []string }

func (f *forgotten) forget(ctx context.Context, q db.DBTX, email string) error {
	if _, ok := q.(pgx.Tx); !ok {
		return nil
	}
	f.emails = append(f.emails, email)
	return nil
}

// erase runs Erase in a transaction, as the ErasePerson activity does.
func erase(t *testing.T, d *testenv.Database, f *forgotten, workspaceID uuid.UUID, email string) privacy.Counts {
	t.Helper()
	ctx := context.Background()
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	counts, err := privacy.Erase(ctx, tx, f.forget, workspaceID, email)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return counts
}

func exec(t *testing.T, d *testenv.Database, sql string, args ...any) {
	t.Helper()
	if _, err := d.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestEraseLeavesNoTraceAndKeepsCounts: a lead with their email (in
// another spelling too), names and phone spread over every table that can
// hold them is erased: no table holds any of them afterwards, the rows are
// all still there (the member's counts, the referral's status and events),
// another person's data is untouched, the audit trail stays append-only
// outside an erasure, a second erasure changes nothing, and the export
// holds the person before and nothing after.
func TestEraseLeavesNoTraceAndKeepsCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	ws := fx.Workspace.ID
	const (
		email   = "Zebulon.Quill+promo@Example.org"
		first   = "Zebulon"
		last    = "Quillfeather"
		phone   = "+1 555 0199"
		contact = int64(9001)
	)
	normalized := referral.NormalizeEmail(email)
	firstName, lastName, c := first, last, contact
	r, err := d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: ws, CampaignID: fx.Campaign.ID, MemberID: fx.Member.ID, LeadEmail: email, LeadEmailNormalized: normalized,
		LeadFirstName: &firstName, LeadLastName: &lastName, Source: "admin", HubspotContactID: &c,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Queries.MemberAddToReferralCounts(ctx, db.MemberAddToReferralCountsParams{ID: fx.Member.ID, Referrals: 1}); err != nil {
		t.Fatal(err)
	}
	exec(t, d, `UPDATE referrals SET lead_phone = $2, note = 'call Zebulon after 5' WHERE id = $1`, r.ID, phone)
	details, _ := json.Marshal(map[string]any{"lead_email": email, "note": "Zebulon Quillfeather asked", "phone": phone})
	if _, err := d.Queries.ReferralEventInsert(ctx, db.ReferralEventInsertParams{ReferralID: r.ID, WorkspaceID: ws, Kind: "created", Actor: "admin", Details: details}); err != nil {
		t.Fatal(err)
	}
	// Sales entries: an email change of the lead's contact, one of another
	// contact carrying the address in lower case, and one that is not
	// theirs at all.
	for i, e := range []struct {
		object int64
		value  string
	}{{contact, email}, {1234, strings.ToLower(normalized)}, {5678, "someone@else.example"}} {
		payload, _ := json.Marshal(map[string]any{"objectId": e.object, "propertyName": "email", "propertyValue": e.value, "subscriptionType": "contact.propertyChange"})
		exec(t, d, `INSERT INTO sales_entries (portal_id, workspace_id, dedupe_key, subscription_type, object_type, object_id, property_name, property_value, occurred_at, payload)
			VALUES (1, $1, $2, 'contact.propertyChange', 'contact', $3, 'email', $4, now(), $5)`, ws, "k"+string(rune('a'+i)), e.object, e.value, payload)
	}
	exec(t, d, `INSERT INTO review_entries (workspace_id, referral_id, reason, status, data) VALUES ($1, $2, 'manual', 'open', $3)`,
		ws, r.ID, `{"properties": {"email": "`+email+`", "firstname": "Zebulon"}}`)
	body := `{"type":"referral.created","data":{"referral_id":"` + r.ID.String() + `","lead":{"email":"` + email + `","first_name":"Zebulon"}}}`
	exec(t, d, `INSERT INTO webhook_deliveries (workspace_id, campaign_id, event_id, event_type, body, next_attempt_at, retry_until)
		VALUES ($1, $2, 'ev-1', 'referral.created', convert_to($3, 'UTF8'), now(), now() + interval '1 day')`, ws, fx.Campaign.ID, body)
	exec(t, d, `INSERT INTO webhook_delivery_attempts (delivery_id, attempted_at, status_code, latency_ms, response_excerpt)
		SELECT id, now(), 400, 5, 'unknown lead ' || $1 FROM webhook_deliveries WHERE event_id = 'ev-1'`, email)
	exec(t, d, `INSERT INTO imports (workspace_id, campaign_id, kind, status, header) VALUES ($1, $2, 'referrals', 'completed', '{email,first_name}')`, ws, fx.Campaign.ID)
	exec(t, d, `INSERT INTO import_rows (import_id, row_number, fields, referral_id) SELECT id, 1, ARRAY[$1, 'Zebulon'], $2::uuid FROM imports`, email, r.ID)
	exec(t, d, `INSERT INTO import_errors (import_id, row_number, email, reason) SELECT id, 2, $1, 'duplicate lead ' || $1 FROM imports`, strings.ToUpper(email))
	exec(t, d, `INSERT INTO referral_hubspot_writes (referral_id, workspace_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, r.ID, ws)

	terms := []string{email, normalized, strings.ToLower(email), first, last, phone}
	if found := d.FindText(t, terms...); len(found) < 8 {
		t.Fatalf("before the erasure the person is in %d rows, want them everywhere: %v", len(found), found)
	}
	before, err := privacy.ExportPerson(ctx, d.Queries, ws, "zebulon.quill@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(before.ReferralsAsLead) != 1 || len(before.AuditEvents) != 1 || len(before.SalesEntries) != 2 || len(before.ReviewEntries) != 1 || len(before.WebhookDeliveries) != 1 {
		t.Fatalf("export before = %d referrals, %d events, %d sales entries, %d review entries, %d webhooks; want 1, 1, 2, 1, 1",
			len(before.ReferralsAsLead), len(before.AuditEvents), len(before.SalesEntries), len(before.ReviewEntries), len(before.WebhookDeliveries))
	}

	var f forgotten
	counts := erase(t, d, &f, ws, "ZEBULON.QUILL@example.org")
	if found := d.FindText(t, terms...); len(found) > 0 {
		t.Fatalf("after the erasure the person is still in %v", found)
	}
	if counts["referrals"] != 1 || counts["sales_entries"] != 2 || counts["referral_events"] != 1 || counts["webhook_deliveries"] != 1 ||
		counts["webhook_delivery_attempts"] != 1 || counts["import_rows"] != 1 || counts["import_errors"] != 1 || counts["review_entries"] != 1 || counts["hubspot_writes"] != 1 {
		t.Fatalf("counts = %v", counts)
	}
	if len(f.emails) != 1 {
		t.Fatalf("the keyring was asked to forget %v in the erasure's transaction, want the email once", f.emails)
	}

	// Rows and counts stay; the other person's entry is untouched.
	var status string
	var erased bool
	var events, members, referralCount int
	if err := d.Pool.QueryRow(ctx, `SELECT status, erased_at IS NOT NULL, lead_email LIKE 'erased-%@erased.invalid' FROM referrals WHERE id = $1`, r.ID).Scan(&status, &erased, &erased); err != nil || status != "pending" || !erased {
		t.Fatalf("referral after the erasure: %q erased=%v (%v)", status, erased, err)
	}
	if err := d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM referral_events WHERE referral_id = $1), (SELECT count(*) FROM members), (SELECT referral_count FROM members WHERE id = $2)`,
		r.ID, fx.Member.ID).Scan(&events, &members, &referralCount); err != nil || events != 1 || members != 1 || referralCount != 2 {
		t.Fatalf("events %d, members %d, member's referral count %d (%v); want 1, 1, 2", events, members, referralCount, err)
	}
	if found := d.FindText(t, "someone@else.example", "maya@example.com", "leo@example.org"); len(found) < 3 {
		t.Fatalf("other people's data was erased too: only %v left", found)
	}
	// Outside an erasure the audit trail is still append-only.
	if _, err := d.Pool.Exec(ctx, `UPDATE referral_events SET details = '{}' WHERE referral_id = $1`, r.ID); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("rewriting an event outside an erasure: %v, want the append-only refusal", err)
	}
	// A repeat finds nothing; the export holds nothing.
	again := erase(t, d, &f, ws, email)
	for table, n := range again {
		if n != 0 {
			t.Errorf("a second erasure changed %d rows of %s", n, table)
		}
	}
	after, err := privacy.ExportPerson(ctx, d.Queries, ws, email)
	if err != nil || !after.Empty() {
		t.Fatalf("export after the erasure = %+v (%v), want empty", after, err)
	}
}

// TestEraseMemberStopsTheirLink: an erased member keeps their code, counts
// and referrals (the leads are other people and keep theirs), and their
// link finds no one.
func TestEraseMemberStopsTheirLink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	var f forgotten
	counts := erase(t, d, &f, fx.Workspace.ID, " MAYA+news@example.com")
	if counts["members"] != 1 || counts["referrals"] != 0 {
		t.Fatalf("counts = %v, want the member only", counts)
	}
	if found := d.FindText(t, "maya@example.com", "Maya"); len(found) > 0 {
		t.Fatalf("the member is still in %v", found)
	}
	if found := d.FindText(t, "leo@example.org"); len(found) == 0 {
		t.Fatal("their lead's own data was erased with them")
	}
	if _, err := d.Queries.MemberGetByReferralLink(ctx, fx.Member.ReferralCode); err == nil {
		t.Fatal("an erased member's link still finds them")
	}
	m, err := d.Queries.MemberGetByID(ctx, fx.Member.ID)
	if err != nil || m.ReferralCount != 1 || m.ErasedAt == nil || m.EmailUnsubscribedAt == nil {
		t.Fatalf("member after erasure = %+v (%v)", m, err)
	}
}

// TestNormalizeEmailInSQL: the schema's normalize_email agrees with
// referral.NormalizeEmail, which members are found by.
func TestNormalizeEmailInSQL(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	for _, in := range []string{" Maya@Example.com ", "maya+referflow@example.com", "J.Doe+x@gmail.com", "j.doe@googlemail.com",
		"j.doe@company.com", "+tag@example.com", "not-an-email", "a@b@c", "ÉLODIE@exemple.fr"} {
		var got string
		if err := d.Pool.QueryRow(context.Background(), `SELECT normalize_email($1)`, in).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := referral.NormalizeEmail(in); got != want {
			t.Errorf("normalize_email(%q) = %q, NormalizeEmail says %q", in, got, want)
		}
	}
}
