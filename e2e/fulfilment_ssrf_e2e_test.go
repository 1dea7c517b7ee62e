package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/workflows"
)

// TestRewardWaitsWhenItsFulfilmentHostResolvesInternally is DNS rebinding
// against the whole stack: an admin saves a fulfilment URL whose host name
// looks public (the API accepts it: names are resolved when sending), but
// when the reward is announced the name resolves to the cloud metadata
// address. The worker refuses on its dialer, before connecting (the test's
// dialer fails the test on any non-loopback dial); the referral waits on
// its reward, saying why. The admin then points it at a receiver on the
// private network that answers 500 with secrets in its body: the failure
// Temporal records says only the status. Once the receiver answers 2xx the
// reward is announced, once.
func TestRewardWaitsWhenItsFulfilmentHostResolvesInternally(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{})
	_, key, err := adminauth.CreateAdmin(ctx, st.d.Queries, st.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	patchURL := func(u string) (int, string) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"fulfilment_webhook_url": u})
		req, _ := http.NewRequestWithContext(ctx, "PATCH", st.apiURL+"/api/v1/campaigns/"+st.fx.Campaign.ID.String(), strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := patchURL("http://169.254.169.254/latest/meta-data/"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "fulfilment_webhook_url") {
		t.Fatalf("the metadata address itself: %d %s, want 422 naming fulfilment_webhook_url", code, body)
	}
	if code, body := patchURL("https://" + metadataHost + "/rewards"); code != http.StatusOK {
		t.Fatalf("a public-looking name: %d %s, want it saved", code, body)
	}

	ids, deals := st.addReferrals(t, ctx, 1)
	id := ids[0]
	if err := st.hs.Sim.UpdateObject(st.hs.PortalID, "deals", deals[0], map[string]string{"dealstage": "closedwon"}); err != nil {
		t.Fatal(err)
	}
	st.waitCount(t, ctx, "reward waiting on its URL", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND waiting_step = 'issue_reward' AND waiting_cause = 'InvalidFulfilmentURL'`, id)
	var reason string
	if err := st.d.Pool.QueryRow(ctx, `SELECT waiting_reason FROM referrals WHERE id = $1`, id).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reason, metadataHost) || !strings.Contains(reason, "169.254.169.254") || !strings.Contains(reason, "REFERFLOW_WEBHOOK_ALLOWED_NETWORKS") {
		t.Fatalf("waiting reason %q, want the name, the address it resolved to and the setting that allows it", reason)
	}
	if n := len(st.rewardWebhooks(id)); n != 0 {
		t.Fatalf("%d reward webhooks while the URL is refused", n)
	}

	// A receiver on the private network (the operator allows loopback
	// here) that answers 500 with what an internal service would say.
	const secret = "postgres: password authentication failed for user admin; token=internal-s3cr3t"
	var healthy atomic.Bool
	var delivered atomic.Int32
	leaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			http.Error(w, secret, http.StatusInternalServerError)
			return
		}
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer leaky.Close()
	if code, body := patchURL(leaky.URL + "/rewards"); code != http.StatusOK {
		t.Fatalf("a loopback receiver the operator allows: %d %s", code, body)
	}
	// Saving the URL wakes the referral; the delivery fails, retryably.
	var failure string
	for failure == "" {
		desc, err := st.tc.Client.DescribeWorkflowExecution(ctx, workflows.ReferralWorkflowID(id), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range desc.GetPendingActivities() {
			if f := a.GetLastFailure(); f != nil && strings.Contains(f.GetMessage(), "500") {
				failure = f.String()
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("no failed delivery to the 500 receiver recorded in Temporal")
		case <-time.After(100 * time.Millisecond):
		}
	}
	if strings.Contains(failure, "internal-s3cr3t") || strings.Contains(failure, "password authentication") {
		t.Fatalf("Temporal's failure carries the receiver's answer: %s", failure)
	}
	var leaked int
	if err := st.d.Pool.QueryRow(ctx, `SELECT count(*) FROM referral_events WHERE referral_id = $1 AND details::text LIKE '%s3cr3t%'`, id).Scan(&leaked); err != nil || leaked != 0 {
		t.Fatalf("%d referral events carry the receiver's answer (%v)", leaked, err)
	}

	healthy.Store(true)
	st.waitCount(t, ctx, "wait ended", 1, `SELECT count(*) FROM referrals WHERE id = $1 AND waiting_step IS NULL`, id)
	for delivered.Load() < 1 {
		select {
		case <-ctx.Done():
			t.Fatal("the reward was never announced to the healthy receiver")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if n := delivered.Load(); n != 1 {
		t.Fatalf("%d announcements, want 1", n)
	}
}
