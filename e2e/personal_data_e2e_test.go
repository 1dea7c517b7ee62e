package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/tokencrypt"
	"github.com/referflow/referflow/workflows"
)

// historyExport is every event of every workflow the stack ran, as an
// operator exporting the histories gets them (`temporal workflow show
// --output json`), with each payload's data appended as it is stored, or
// as decode (a codec server) turns it, so a search sees inside payloads.
func (st *salesReceiverStack) historyExport(tb testing.TB, ctx context.Context, decode converter.PayloadCodec) []byte {
	tb.Helper()
	var out bytes.Buffer
	var next []byte
	for {
		page, err := st.tc.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: st.tc.Namespace, Query: fmt.Sprintf("TaskQueue = %q", st.tc.TaskQueue), NextPageToken: next,
		})
		if err != nil {
			tb.Fatal(err)
		}
		for _, ex := range page.GetExecutions() {
			// Visibility is eventual; the history is what holds the data.
			it := st.tc.Client.GetWorkflowHistory(ctx, ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId(), false, 0)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					tb.Fatal(err)
				}
				js, _ := protojson.Marshal(ev)
				out.Write(js)
				out.WriteByte('\n')
				err = proxy.VisitPayloads(ctx, ev, proxy.VisitPayloadsOptions{Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
					if decode != nil {
						var derr error
						if ps, derr = decode.Decode(ps); derr != nil {
							return nil, derr
						}
					}
					for _, p := range ps {
						out.Write(p.GetData())
						out.WriteByte('\n')
					}
					return ps, nil
				}})
				if err != nil {
					tb.Fatal(err)
				}
			}
		}
		if next = page.GetNextPageToken(); len(next) == 0 {
			return out.Bytes()
		}
	}
}

// TestAnErasedLeadIsUnreadableInTemporal: a referred person's email and name
// never reach Temporal's histories readable; an operator holding the keys
// (the codec server) reads them until the person is erased, and after that
// nobody can, while the referral's workflow goes on to its reward.
func TestAnErasedLeadIsUnreadableInTemporal(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{RetryBase: 20 * time.Millisecond})
	sim, portal := st.hs.Sim, st.hs.PortalID
	const email, lastName = "Mia.Quokkafield@example.org", "Quokkafield"
	contact, err := sim.CreateObject(portal, "contacts", map[string]string{"email": email, "firstname": "Mia", "lastname": lastName})
	if err != nil {
		t.Fatal(err)
	}
	contactID, _ := strconv.ParseInt(contact, 10, 64)
	r, err := st.d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: st.fx.Campaign.ID, MemberID: st.fx.Member.ID,
		LeadEmail: email, LeadEmailNormalized: "mia.quokkafield@example.org", Source: "api", HubspotContactID: &contactID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflows.StartReferralWorkflow(ctx, st.tc.Client, st.tc.TaskQueue, st.tc.HubSpotTaskQueue, r.ID.String()); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "workflow listening", 1, `SELECT count(*) FROM referral_events WHERE kind = 'lead_not_sent'`)
	for _, sub := range [][2]string{{"deal.associationChange", ""}, {"deal.propertyChange", "dealstage"}, {"contact.propertyChange", "lastname"}} {
		if _, err := sim.Subscribe(sub[0], sub[1]); err != nil {
			t.Fatal(err)
		}
	}
	// A change of a personal property reaches the Sales Receiver too.
	if err := sim.UpdateObject(portal, "contacts", contact, map[string]string{"lastname": lastName + "-Smith"}); err != nil {
		t.Fatal(err)
	}
	deal, err := sim.CreateObject(portal, "deals", map[string]string{"dealname": "Deal", "pipeline": "default", "dealstage": "appointmentscheduled"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Associate(portal, "deals", deal, "contacts", contact); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "deal linked to the referral", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND hubspot_deal_id::text = $2`, r.ID, deal)
	if err := sim.UpdateObject(portal, "deals", deal, map[string]string{"dealstage": "contractsent"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "qualified", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND status = 'qualified'`, r.ID)
	st.waitCount(t, ctx, "the name change recorded", 1, `SELECT count(*) FROM sales_entries WHERE property_name = 'lastname'`)

	secrets := [][]byte{[]byte(email), []byte("mia.quokkafield@example.org"), []byte(lastName)}
	found := func(export []byte) []string {
		var hits []string
		for _, s := range secrets {
			if bytes.Contains(bytes.ToLower(export), bytes.ToLower(s)) {
				hits = append(hits, string(s))
			}
		}
		return hits
	}
	codec := &personaldata.Codec{Keys: st.keys}
	if hits := found(st.historyExport(t, ctx, nil)); len(hits) > 0 {
		_ = os.WriteFile("/tmp/export.txt", st.historyExport(t, ctx, nil), 0o644)
		t.Fatalf("the stored histories hold %q readable", hits)
	}
	if hits := found(st.historyExport(t, ctx, codec)); len(hits) == 0 {
		t.Fatal("with the keys, the histories should show the lead's email: the search would find nothing either way")
	}

	// The lead is erased mid-flow.
	if err := st.keys.Forget(ctx, st.d.Pool, "mia.quokkafield+referral@example.org"); err != nil {
		t.Fatal(err)
	}

	// The referral's life goes on: the deal is won, the reward issued.
	if err := sim.UpdateObject(portal, "deals", deal, map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "reward issued", 1, `SELECT count(*) FROM rewards WHERE referral_id = $1 AND status = 'issued'`, r.ID)

	// Nothing readable, even to whoever holds every key that is left.
	keys := personaldata.NewKeyring(st.d.Pool, mustBox(t))
	for name, dec := range map[string]converter.PayloadCodec{"as stored": nil, "through the codec server": &personaldata.Codec{Keys: keys}} {
		if hits := found(st.historyExport(t, ctx, dec)); len(hits) > 0 {
			t.Errorf("%s, the histories still hold %q after erasure", name, hits)
		}
	}
}

// mustBox is the stack's REFERFLOW_ENCRYPTION_KEY, as another process holds it.
func mustBox(tb testing.TB) *tokencrypt.Box {
	box, err := tokencrypt.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		tb.Fatal(err)
	}
	return box
}
