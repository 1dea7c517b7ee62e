package privacy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/privacy"
)

// BenchmarkEraseInABusyWorkspace: one person erased from a workspace with
// 100,000 referrals, 200,000 sales entries, 200,000 audit events and 50,000
// outgoing webhooks (the scans for their email in payloads and bodies are
// what grows with the workspace). Each iteration erases another lead.
func BenchmarkEraseInABusyWorkspace(b *testing.B) {
	ctx := context.Background()
	d := testenv.NewDatabase(b)
	fx := d.SeedReferral(b)
	ws, camp, member := fx.Workspace.ID, fx.Campaign.ID, fx.Member.ID
	for _, sql := range []string{
		`INSERT INTO referrals (workspace_id, campaign_id, member_id, lead_email, lead_email_normalized, lead_first_name, source, hubspot_contact_id)
		 SELECT $1, $2, $3, 'lead-' || n || '@example.org', 'lead-' || n || '@example.org', 'Lead' || n, 'api', 5000000 + n FROM generate_series(1, 100000) n`,
		`INSERT INTO sales_entries (portal_id, workspace_id, dedupe_key, subscription_type, object_type, object_id, property_name, property_value, occurred_at, payload)
		 SELECT 1, $1, 'k' || n, 'contact.propertyChange', 'contact', 5000000 + n % 100000, 'email', 'lead-' || n % 100000 || '@example.org', now(),
		        jsonb_build_object('objectId', 5000000 + n % 100000, 'propertyName', 'email', 'propertyValue', 'lead-' || n % 100000 || '@example.org')
		 FROM generate_series(1, 200000) n`,
		`INSERT INTO referral_events (referral_id, workspace_id, kind, actor, details)
		 SELECT r.id, r.workspace_id, 'hubspot_change', 'hubspot', jsonb_build_object('value', 'qualifiedtobuy', 'n', g)
		 FROM referrals r, generate_series(1, 2) g WHERE r.workspace_id = $1`,
		`INSERT INTO webhook_deliveries (workspace_id, campaign_id, event_id, event_type, body, next_attempt_at, retry_until)
		 SELECT $1, $2, 'ev-' || n, 'reward.issued', convert_to('{"type":"reward.issued","data":{"lead_email":"lead-' || n || '@example.org"}}', 'UTF8'), now(), now()
		 FROM generate_series(1, 50000) n`,
	} {
		args := []any{ws}
		if strings.Contains(sql, "$3") {
			args = []any{ws, camp, member}
		} else if strings.Contains(sql, "$2") {
			args = []any{ws, camp}
		}
		if _, err := d.Pool.Exec(ctx, sql, args...); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := d.Pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	var f forgotten
	b.ResetTimer()
	for i := range b.N {
		tx, err := d.Pool.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		counts, err := privacy.Erase(ctx, tx, f.forget, ws, fmt.Sprintf("Lead-%d@example.org", i+1))
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		if counts["referrals"] != 1 || counts["sales_entries"] != 2 {
			b.Fatalf("counts = %v", counts)
		}
	}
}
