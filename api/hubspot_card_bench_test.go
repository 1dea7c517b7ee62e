package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// Data of BenchmarkHubSpotCard: a workspace with 20 members, each with
// benchCardReferrals referrals, every lead a HubSpot contact, a third of
// them with a deal too, a company per 10 leads, every approved referral
// rewarded, one in 20 with a fraud signal.
const (
	benchCardMembers   = 20
	benchCardReferrals = 1000
	// benchCardClients is HubSpot's limit of hubspot.fetch requests in
	// flight per account: the 20 concurrent card fetches.
	benchCardClients = 20
)

// BenchmarkHubSpotCard measures the referral card as HubSpot's users get
// it: each fetch goes through the HubSpot simulator's hubspot.fetch (URL
// permitted, parameters appended, v3-signed with the app's secret, its 20
// in-flight slots) over loopback HTTP to the API server (signature check,
// the portal's connection, the per-portal guard, the record's referrals,
// rewards, fraud signals and members in Postgres, JSON), with 20 fetches
// always in flight, on a random record: a lead's contact or deal, a
// member's contact, or a company (one in ten of each of the last two). It
// reports p50, p95 and p99 of one fetch and the fetches per second. The
// whole stack runs: Postgres, the Temporal dev server and a worker (idle),
// the simulator and the API.
func BenchmarkHubSpotCard(b *testing.B) {
	w := newCardWorld(b, nil)
	ctx := context.Background()
	ws, camp := w.fx.Workspace.ID, w.fx.Campaign.ID
	// Members 2..20 (the seeded one is the first), each linked to a contact
	// 9,000,000 + n.
	if _, err := w.d.Pool.Exec(ctx, `
		INSERT INTO members (workspace_id, campaign_id, referral_code, email, source)
		SELECT $1, $2, 'CARD' || g, 'member' || g || '@example.com', 'admin' FROM generate_series(2, $3::int) g`,
		ws, camp, benchCardMembers); err != nil {
		b.Fatal(err)
	}
	if _, err := w.d.Pool.Exec(ctx, `
		UPDATE members SET hubspot_contact_id = 9000000 + n
		FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM members WHERE campaign_id = $1) m
		WHERE members.id = m.id`, camp); err != nil {
		b.Fatal(err)
	}
	// Their referrals: lead contact 1,000,000 + k, deal 5,000,000 + k for a
	// third, company 8,000,000 + k/10.
	if _, err := w.d.Pool.Exec(ctx, `
		INSERT INTO referrals (workspace_id, campaign_id, member_id, lead_email, lead_email_normalized, lead_first_name,
		                       status, in_review, source, hubspot_contact_id, hubspot_deal_id, hubspot_company_id, created_at)
		SELECT members.workspace_id, members.campaign_id, members.id,
		       'lead' || k || '@example.org', 'lead' || k || '@example.org', 'Lead' || k,
		       (ARRAY['pending','qualified','approved','denied'])[1 + k % 4], k % 20 = 0, 'api',
		       1000000 + k, CASE WHEN k % 3 = 0 THEN 5000000 + k END, 8000000 + k / 10, now() - k * interval '1 minute'
		FROM (SELECT id, workspace_id, campaign_id, row_number() OVER (ORDER BY created_at, id) AS n FROM members WHERE campaign_id = $1) members,
		     generate_series(1, $2::int) g, LATERAL (SELECT (members.n - 1) * $2::int + g AS k) kk`,
		camp, benchCardReferrals); err != nil {
		b.Fatal(err)
	}
	if _, err := w.d.Pool.Exec(ctx, `
		UPDATE referrals SET denied_reason = 'not a fit' WHERE campaign_id = $1 AND status = 'denied'`, camp); err != nil {
		b.Fatal(err)
	}
	benchRewardApprovedReferrals(b, w.d.Pool, camp.String())
	if _, err := w.d.Pool.Exec(ctx, `
		INSERT INTO referral_events (referral_id, workspace_id, kind, actor, details, idempotency_key)
		SELECT id, workspace_id, 'fraud_signal', 'system',
		       jsonb_build_object('reason', 'disposable_email', 'detail', 'the lead''s email domain is a disposable mailbox provider''s', 'action', 'review'),
		       'bench-fraud:' || id
		FROM referrals WHERE campaign_id = $1 AND in_review`, camp); err != nil {
		b.Fatal(err)
	}
	if _, err := w.d.Pool.Exec(ctx, `ANALYZE referrals; ANALYZE rewards; ANALYZE members; ANALYZE referral_events; ANALYZE hubspot_connections`); err != nil {
		b.Fatal(err)
	}
	total := benchCardMembers * benchCardReferrals
	record := func(r *rand.Rand) (hubspotobject.Type, int64) {
		switch n := r.IntN(10); {
		case n == 0:
			return hubspotobject.Contact, 9000000 + 1 + int64(r.IntN(benchCardMembers))
		case n == 1:
			return hubspotobject.Company, 8000000 + int64(r.IntN(total/10))
		case n < 5:
			return hubspotobject.Deal, 5000000 + 3*(1+int64(r.IntN(total/3)))
		default:
			return hubspotobject.Contact, 1000000 + 1 + int64(r.IntN(total))
		}
	}
	fetch := func(r *rand.Rand) error {
		t, id := record(r)
		res, err := w.hs.Sim.CardFetch(ctx, hubspotsim.CardFetchRequest{
			PortalID: w.hs.PortalID, URL: w.cardURL(CardPath, t, strconv.FormatInt(id, 10)), UserID: cardUserID, UserEmail: cardUserEmail,
		})
		if err != nil {
			return err
		}
		if res.Status != http.StatusOK {
			return fmt.Errorf("%s %d: %d %s", t, id, res.Status, res.Body)
		}
		return nil
	}
	// A lead's contact shows its referral, a member's contact the member.
	var v CardView
	res, err := w.hs.Sim.CardFetch(ctx, hubspotsim.CardFetchRequest{PortalID: w.hs.PortalID, URL: w.cardURL(CardPath, hubspotobject.Contact, "1000020"), UserID: cardUserID})
	if err != nil || res.JSON(&v) != nil || len(v.Referrals) != 1 || len(v.Referrals[0].FraudFlags) != 1 {
		b.Fatalf("a lead's card = %v %s", err, res.Body)
	}
	res, err = w.hs.Sim.CardFetch(ctx, hubspotsim.CardFetchRequest{PortalID: w.hs.PortalID, URL: w.cardURL(CardPath, hubspotobject.Contact, "9000002"), UserID: cardUserID})
	if err != nil || res.JSON(&v) != nil || len(v.Members) != 1 || v.Members[0].ReferralCount != 0 {
		b.Fatalf("a member's card = %v %s", err, res.Body)
	}
	// Warm the connections and the server's prepared statements.
	warm := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		if err := fetch(warm); err != nil {
			b.Fatal(err)
		}
	}

	b.ResetTimer()
	var mu sync.Mutex
	var took []time.Duration
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := range benchCardClients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 7))
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := fetch(r); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			took = append(took, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)*95/100]), "p95-ms")
	b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
	b.ReportMetric(float64(len(took))/elapsed.Seconds(), "fetches/s")
}
