package worker_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
)

// BenchmarkHubSpotWriterStatusChanges makes 10,000 status changes over
// 1,000 members — each member's 5 referrals qualify, then are denied, each
// change moving the member's converted count —
// as fast as 8 concurrent callers of activities.ChangeReferralStatus (the
// local activity the referral workflows run) can, with a HubSpotWriter
// running against the HubSpot simulator behind the production rate limiter
// (shared through Postgres). It reports the HubSpot calls made (and how many
// HubSpot refused), how long the changes took, and how long after the last
// change HubSpot showed what Postgres has: every member's counts on their
// contact and, with REFERFLOW_BENCH_LEAD_RECORDS=1, every referral's status
// on its lead's own contact.
//
//	go test -run '^$' -bench BenchmarkHubSpotWriterStatusChanges -benchtime=1x ./worker/
func BenchmarkHubSpotWriterStatusChanges(b *testing.B) {
	const members, perMember = 1000, 5
	leadRecords := os.Getenv("REFERFLOW_BENCH_LEAD_RECORDS") == "1"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w := newWriterWorld(b, members)
	type ref struct {
		id      string
		contact string
	}
	refs := make([]ref, 0, members*perMember)
	for i, m := range w.members {
		for j := range perMember {
			in := activities.NewReferral{Member: m, Lead: activities.Lead{Email: fmt.Sprintf("lead%d.%d@example.org", i, j)}, Source: referral.SourceAdminAPI, Actor: "admin:1"}
			if leadRecords {
				id, err := w.hw.Sim.CreateObject(w.hw.PortalID, "contacts", map[string]string{"email": in.Lead.Email})
				if err != nil {
					b.Fatal(err)
				}
				n, _ := strconv.ParseInt(id, 10, 64)
				in.HubSpot.Contact = &n
			}
			r, err := activities.AddReferral(ctx, w.d.Pool, in)
			if err != nil {
				b.Fatal(err)
			}
			refs = append(refs, ref{id: r.ID.String(), contact: leadIDString(r.HubspotContactID)})
		}
	}
	w.startWriter(b)
	agreed := func() bool {
		if w.marks(b) > 0 {
			return false
		}
		ms, err := w.d.Queries.MemberListByCampaign(ctx, w.fx.Campaign.ID)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range ms {
			if m.HubspotContactID == nil {
				continue
			}
			c, _ := w.hw.Sim.GetObject(w.hw.PortalID, "contacts", strconv.FormatInt(*m.HubspotContactID, 10))
			if c.Properties[hubspotobject.PropReferralCount] != strconv.Itoa(int(m.ReferralCount)) ||
				c.Properties[hubspotobject.PropConvertedReferralCount] != strconv.Itoa(int(m.ConvertedReferralCount)) {
				return false
			}
		}
		if !leadRecords {
			return true
		}
		for _, r := range refs {
			id, _ := uuid.Parse(r.id)
			row, err := w.d.Queries.ReferralGetByID(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			c, _ := w.hw.Sim.GetObject(w.hw.PortalID, "contacts", r.contact)
			if c.Properties[hubspotobject.PropReferralStatus] != row.Status {
				return false
			}
		}
		return true
	}
	waitAgreed := func() time.Time {
		for !agreed() {
			select {
			case <-ctx.Done():
				b.Fatal("HubSpot never agreed with Postgres")
			case <-time.After(20 * time.Millisecond):
			}
		}
		return time.Now()
	}
	waitAgreed() // the additions, written before measuring
	before := w.hw.Sim.Calls(w.hw.PortalID)

	b.ResetTimer()
	start := time.Now()
	work := make(chan ref)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for r := range work {
				w.move(b, r.id, referral.Pending, referral.Qualified)
			}
		})
	}
	// Every referral qualifies, then every one is denied (so that every
	// change moves a count; qualified to approved would not): each member
	// changes in both halves of the run.
	for _, r := range refs {
		work <- r
	}
	close(work)
	wg.Wait()
	work = make(chan ref)
	for range 8 {
		wg.Go(func() {
			for r := range work {
				w.move(b, r.id, referral.Qualified, referral.Denied)
			}
		})
	}
	for _, r := range refs {
		work <- r
	}
	close(work)
	wg.Wait()
	changed := time.Now()
	done := waitAgreed()
	b.StopTimer()

	calls := w.hw.Sim.Calls(w.hw.PortalID)[len(before):]
	refused := 0
	for _, c := range calls {
		if c.Status == 429 {
			refused++
		}
	}
	changes := 2 * len(refs)
	b.ReportMetric(float64(changes), "changes")
	b.ReportMetric(float64(len(calls)), "hubspot-calls")
	b.ReportMetric(float64(batchUpdates(calls, "contacts")), "contact-batch-updates")
	b.ReportMetric(float64(refused), "refused-429")
	b.ReportMetric(changed.Sub(start).Seconds(), "s-changing")
	b.ReportMetric(done.Sub(changed).Seconds(), "s-until-agreed")
	b.Logf("%d status changes over %d members (lead records: %v) in %s; HubSpot agreed %s after the last one; %d HubSpot calls (%d batch updates of contacts), %d refused",
		changes, members, leadRecords, changed.Sub(start).Round(time.Millisecond), done.Sub(changed).Round(time.Millisecond),
		len(calls), batchUpdates(calls, "contacts"), refused)
	for _, m := range w.members[:1] {
		row, _ := w.d.Queries.MemberGetByID(ctx, m.ID)
		if row.ReferralCount != perMember || row.ConvertedReferralCount != 0 {
			b.Fatalf("member %s counts %d/%d, want %d/0", m.ReferralCode, row.ReferralCount, row.ConvertedReferralCount, perMember)
		}
	}
}

func leadIDString(id *int64) string {
	if id == nil {
		return ""
	}
	return strconv.FormatInt(*id, 10)
}
