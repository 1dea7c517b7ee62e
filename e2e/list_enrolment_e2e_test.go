package e2e_test

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/worker"
)

// runPoller runs a JournalPoller, as a worker process does, until the
// returned stop is called (a process stopped or killed: what it read and
// recorded stays, its position is what it stored).
func runPoller(st *salesReceiverStack) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p := &worker.JournalPoller{Pool: st.d.Pool, HubSpot: st.hs.Manager, Logger: slog.New(slog.DiscardHandler),
		Interval: 100 * time.Millisecond, MaxWait: time.Second}
	go func() { defer close(done); p.Run(ctx) }()
	return func() { cancel(); <-done }
}

// TestContactsAddedToAListBecomeMembers: a campaign enrolling contacts added
// to HubSpot list X (process_rules.enrol_members.on_list_ids), which HubSpot
// reports only through its webhooks journal. The worker's poller keeps the
// journal subscription for X, reads the journal and hands its events to the
// Sales Receiver: a contact added to X becomes a member with their link
// written back to HubSpot; one added to another list does not; one removed
// from X stays a member; the journal read again (a crash before the offset
// was stored) enrols no one twice; a poller restarted reads on from its
// stored position; an outage of the journal delays enrolment and loses
// nothing.
func TestContactsAddedToAListBecomeMembers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{}, func(o *worker.Options) { o.JournalPollInterval = -1 })
	sim, portal := st.hs.Sim, st.hs.PortalID
	contact := func(email, first string) string {
		id, err := sim.CreateObject(portal, "contacts", map[string]string{"email": email, "firstname": first})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	ada, bo, cy, dee, eve := contact("ada@example.org", "Ada"), contact("bo@example.org", "Bo"), contact("cy@example.org", "Cy"), contact("dee@example.org", "Dee"), contact("eve@example.org", "Eve")
	listX, err := sim.CreateList(portal, "Advocates", "contacts", "MANUAL", nil)
	if err != nil {
		t.Fatal(err)
	}
	listY, err := sim.CreateList(portal, "Newsletter", "contacts", "MANUAL", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := campaign.Defaults()
	s.ProcessRules.EnrolMembers = &campaign.EnrolMembers{OnListIDs: []string{listX}}
	st.d.SetCampaignSettings(t, st.fx.Campaign, s)
	member := func(what, email, contactID string) {
		t.Helper()
		st.waitCount(t, ctx, what, 1,
			`SELECT count(*) FROM members WHERE campaign_id = $1 AND email = $2 AND source = 'hubspot' AND hubspot_contact_id::text = $3`,
			st.fx.Campaign.ID, email, contactID)
	}
	position := func() (entries, events int64, waiting *string) {
		t.Helper()
		if err := st.d.Pool.QueryRow(ctx, `SELECT entries_read, events_recorded, waiting_reason FROM hubspot_journal_positions WHERE portal_id = $1`, portal).Scan(&entries, &events, &waiting); err != nil {
			t.Fatal(err)
		}
		return
	}

	stop := runPoller(st)
	// The poller subscribes the app to list X in the journal.
	for {
		subs := sim.JournalSubscriptions(portal)
		if len(subs) == 1 && subs[0].SubscriptionType == "LIST_MEMBERSHIP" && len(subs[0].ListIDs) == 1 && strconv.FormatInt(subs[0].ListIDs[0], 10) == listX {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no journal subscription for list %s: %+v", listX, subs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Ada joins X: she becomes a member, and her code and link reach her contact.
	if err := sim.AddToList(portal, listX, ada); err != nil {
		t.Fatal(err)
	}
	member("Ada enrolled from list X", "ada@example.org", ada)
	var code string
	if err := st.d.Pool.QueryRow(ctx, `SELECT referral_code FROM members WHERE campaign_id = $1 AND email = 'ada@example.org'`, st.fx.Campaign.ID).Scan(&code); err != nil {
		t.Fatal(err)
	}
	for {
		c, ok := sim.GetObject(portal, "contacts", ada)
		if ok && c.Properties[hubspotobject.PropReferralCode] == code && strings.HasSuffix(c.Properties[hubspotobject.PropReferralLink], "/r/"+code) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Ada's contact never got her code %s and link: %+v", code, c.Properties)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Bo joins Y, then Cy joins X: Cy is a member, Bo is not.
	if err := sim.AddToList(portal, listY, bo); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddToList(portal, listX, cy); err != nil {
		t.Fatal(err)
	}
	member("Cy enrolled from list X", "cy@example.org", cy)
	var n int
	if err := st.d.Pool.QueryRow(ctx, `SELECT count(*) FROM members WHERE email = 'bo@example.org'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("Bo, added to list Y only, is a member (%d, %v)", n, err)
	}

	// Ada leaves X: recorded, ignored, and she stays a member.
	if err := sim.RemoveFromList(portal, listX, ada); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "Ada's removal recorded and ignored", 1,
		`SELECT count(*) FROM sales_entries WHERE subscription_type = 'contact.removedFromList' AND object_id::text = $1 AND status = 'ignored'`, ada)
	member("Ada still a member", "ada@example.org", ada)

	// The poller stops as if it crashed before storing its offset: the next
	// one reads every entry again, and enrols no one twice.
	stop()
	before, recorded, _ := position()
	if before < 3 || recorded < 3 {
		t.Fatalf("position after three list changes: %d entries read, %d events recorded", before, recorded)
	}
	if _, err := st.d.Pool.Exec(ctx, `UPDATE hubspot_journal_positions SET journal_offset = NULL WHERE portal_id = $1`, portal); err != nil {
		t.Fatal(err)
	}
	stop = runPoller(st)
	st.waitCount(t, ctx, "the journal read again", int(2*before),
		`SELECT entries_read::int FROM hubspot_journal_positions WHERE portal_id = $1`, portal)
	if _, again, _ := position(); again != recorded {
		t.Fatalf("reading the journal again recorded %d new events", again-recorded)
	}
	st.waitCount(t, ctx, "no member twice", 0,
		`SELECT count(*) FROM (SELECT campaign_id, lower(email) FROM members GROUP BY 1, 2 HAVING count(*) > 1) d`)
	st.waitCount(t, ctx, "one sales entry per addition", 2,
		`SELECT count(*) FROM sales_entries WHERE subscription_type = 'contact.addedToList'`)

	// Restarted: a new poller reads on from the stored offset.
	stop()
	read, _, _ := position()
	if err := sim.AddToList(portal, listX, dee); err != nil {
		t.Fatal(err)
	}
	stop = runPoller(st)
	member("Dee enrolled after the restart", "dee@example.org", dee)
	if after, _, _ := position(); after != read+1 {
		t.Fatalf("the restarted poller read %d entries for one new one: it did not resume from its position", after-read)
	}

	// The journal goes down: Eve's addition waits, the position says why;
	// it comes back: she is enrolled.
	if _, err := sim.SetMode(portal, hubspotsim.Mode{Kind: hubspotsim.ModeJournalOutage}); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddToList(portal, listX, eve); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "the poller says it waits for the journal", 1,
		`SELECT count(*) FROM hubspot_journal_positions WHERE portal_id = $1 AND waiting_reason LIKE '%journal is failing%' AND waiting_since IS NOT NULL`, portal)
	if err := st.d.Pool.QueryRow(ctx, `SELECT count(*) FROM members WHERE email = 'eve@example.org'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("Eve enrolled while the journal was down (%d, %v)", n, err)
	}
	sim.ClearMode(portal, hubspotsim.ModeJournalOutage)
	member("Eve enrolled after the outage", "eve@example.org", eve)
	st.waitCount(t, ctx, "the poller no longer waits", 1,
		`SELECT count(*) FROM hubspot_journal_positions WHERE portal_id = $1 AND waiting_reason IS NULL`, portal)
	stop()

	// Every addition to X became exactly one member.
	var emails []string
	rows, err := st.d.Pool.Query(ctx, `SELECT email FROM members WHERE campaign_id = $1 AND source = 'hubspot' ORDER BY email`, st.fx.Campaign.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		emails = append(emails, e)
	}
	if want := []string{"ada@example.org", "cy@example.org", "dee@example.org", "eve@example.org"}; !slices.Equal(emails, want) {
		t.Fatalf("members: %v, want %v", emails, want)
	}
}
