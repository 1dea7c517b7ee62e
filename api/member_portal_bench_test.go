package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/internal/dev/testenv"
)

// benchPortalReferrals is the member's referrals in BenchmarkMemberPortal:
// the goal is a portal page under 100 ms at p95 for a member with
// 1,000 referrals.
const benchPortalReferrals = 1000

// BenchmarkMemberPortal measures GET /m/{token} end to end (routing, the
// token's check, the member's lookup, counts, one page of referrals, reward
// totals and list, the template) for a member with 1,000 referrals (a
// quarter approved, each with a member reward, some paid), in a campaign
// whose other members hold 20,000 more, with rewards. It reports the p50 and
// p95 of one page: first page, a later page (by cursor), and the first page
// with 4 members' browsers asking at once.
func BenchmarkMemberPortal(b *testing.B) {
	d := testenv.NewDatabase(b)
	srv := New(Deps{Pool: d.Pool, Logger: slog.New(slog.DiscardHandler), EncryptionKey: testEncryptionKey})
	b.Cleanup(srv.clicks.close)
	ctx := context.Background()
	fx := d.SeedReferral(b)
	m := fx.Member
	// The member's referrals, and 20 other members with 1,000 each.
	if _, err := d.Pool.Exec(ctx, `
		INSERT INTO members (workspace_id, campaign_id, referral_code, email, source)
		SELECT $1, $2, 'BENCH' || g, 'member' || g || '@example.com', 'admin' FROM generate_series(1, 20) g`,
		m.WorkspaceID, m.CampaignID); err != nil {
		b.Fatal(err)
	}
	// The member has the seeded referral and 999 more; the others 1,000
	// each.
	if _, err := d.Pool.Exec(ctx, `
		INSERT INTO referrals (workspace_id, campaign_id, member_id, lead_email, lead_email_normalized, lead_first_name,
		                       status, source, created_at)
		SELECT members.workspace_id, members.campaign_id, members.id,
		       members.referral_code || '-lead' || g || '@example.org',
		       lower(members.referral_code) || '-lead' || g || '@example.org', 'Lead' || g,
		       (ARRAY['pending','qualified','approved','denied'])[1 + g % 4], 'api', now() - g * interval '1 minute'
		FROM members, generate_series(1, $2::int) g
		WHERE members.campaign_id = $1 AND (members.id <> $3 OR g < $2::int)`,
		m.CampaignID, benchPortalReferrals, m.ID); err != nil {
		b.Fatal(err)
	}
	benchRewardApprovedReferrals(b, d.Pool, m.CampaignID.String())
	if _, err := d.Pool.Exec(ctx, `ANALYZE referrals; ANALYZE rewards; ANALYZE members`); err != nil {
		b.Fatal(err)
	}
	first := memberPortalPrefix + srv.memberAccessToken(m.ID, time.Now().Add(time.Hour))
	get := func(path string) string {
		req := httptest.NewRequest("GET", path, nil)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s = %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	page := get(first)
	if !strings.Contains(page, "1000 referrals") {
		b.Fatalf("the member's page does not count 1,000 referrals")
	}
	// Five pages down.
	later := first
	older := regexp.MustCompile(`<a href="([^"]+)">Older referrals</a>`)
	for range 5 {
		later = strings.ReplaceAll(older.FindStringSubmatch(get(later))[1], "&amp;", "&")
	}

	for _, bc := range []struct {
		name    string
		path    string
		clients int
	}{
		{"first_page", first, 1},
		{"sixth_page", later, 1},
		{"first_page_4_clients", first, 4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var mu sync.Mutex
			var took []time.Duration
			var next atomic.Int64
			var wg sync.WaitGroup
			for range bc.clients {
				wg.Go(func() {
					var mine []time.Duration
					for next.Add(1) <= int64(b.N) {
						start := time.Now()
						get(bc.path)
						mine = append(mine, time.Since(start))
					}
					mu.Lock()
					took = append(took, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}

// benchRewardApprovedReferrals gives each approved referral of the campaign
// a member reward of 50 USD, as its approval would have: issued once over 5
// hours old, paid once over 10, pending before.
func benchRewardApprovedReferrals(b *testing.B, pool *pgxpool.Pool, campaignID string) {
	b.Helper()
	if _, err := pool.Exec(context.Background(), `
		INSERT INTO rewards (workspace_id, referral_id, campaign_id, member_id, recipient, amount, currency, status,
		                     idempotency_key, issued_at, paid_at, created_at)
		SELECT workspace_id, id, campaign_id, member_id, 'member', 50, 'USD',
		       CASE WHEN created_at < now() - interval '5 hours' THEN 'issued' ELSE 'pending' END,
		       'bench:' || id, created_at, CASE WHEN created_at < now() - interval '10 hours' THEN created_at END, created_at
		FROM referrals WHERE campaign_id = $1 AND status = 'approved'`, campaignID); err != nil {
		b.Fatal(err)
	}
}
