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
)

// TestWebhookRefusedWhenItsFulfilmentHostResolvesInternally is DNS
// rebinding against the whole stack: an admin saves a fulfilment URL whose
// host name looks public (the API accepts it: names are resolved when
// sending), but when the reward is announced the name resolves to the cloud
// metadata address. The worker's dispatcher refuses on its dialer, before
// connecting (the test's dialer fails the test on any non-loopback dial),
// and records why on the delivery's attempt; the reward stays issued, its
// webhook in the outbox. The admin then points the campaign at a receiver on
// the private network that answers 500 with secrets in its body and replays
// the delivery: the answer is kept for the workspace's admins only, in the
// attempt, and nowhere in the referral's trail. Once the receiver answers
// 2xx a replay announces the reward, once.
func TestWebhookRefusedWhenItsFulfilmentHostResolvesInternally(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newSalesReceiverStack(t, ctx, hubspotsim.WebhookOptions{})
	_, key, err := adminauth.CreateAdmin(ctx, st.d.Queries, st.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, st.apiURL+path, strings.NewReader(body))
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
	patchURL := func(u string) (int, string) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"fulfilment_webhook_url": u})
		return call("PATCH", "/api/v1/campaigns/"+st.fx.Campaign.ID.String(), string(body))
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
	const attemptsOfReferral = `FROM webhook_delivery_attempts a
		JOIN webhook_deliveries d ON d.id = a.delivery_id
		JOIN rewards r ON d.event_id = 'reward.issued:' || r.id::text
		WHERE r.referral_id = $1`
	st.waitCount(t, ctx, "refused attempt", 1, `SELECT count(*) `+attemptsOfReferral, id)
	var deliveryID, refusal string
	if err := st.d.Pool.QueryRow(ctx, `SELECT d.id::text, coalesce(a.error, '') `+attemptsOfReferral, id).Scan(&deliveryID, &refusal); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(refusal, metadataHost) || !strings.Contains(refusal, "169.254.169.254") || !strings.Contains(refusal, "REFERFLOW_WEBHOOK_ALLOWED_NETWORKS") {
		t.Fatalf("attempt's error %q, want the name, the address it resolved to and the setting that allows it", refusal)
	}
	st.waitCount(t, ctx, "reward issued, referral not waiting", 1,
		`SELECT count(*) FROM referrals f JOIN rewards r ON r.referral_id = f.id WHERE f.id = $1 AND r.status = 'issued' AND f.waiting_step IS NULL`, id)
	if n := len(st.rewardWebhooks(id)); n != 0 {
		t.Fatalf("%d reward webhooks while the URL is refused", n)
	}
	admin := func(method, path string) string {
		t.Helper()
		code, body := call(method, path, "")
		if code >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, code, body)
		}
		return body
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
	admin("POST", "/api/v1/webhook-deliveries/"+deliveryID+"/replay")
	st.waitCount(t, ctx, "the 500 recorded", 1, `SELECT count(*) `+attemptsOfReferral+` AND a.status_code = 500`, id)
	if got := admin("GET", "/api/v1/webhook-deliveries/"+deliveryID); !strings.Contains(got, "internal-s3cr3t") {
		t.Fatalf("the delivery's attempts do not show the admins the receiver's answer: %s", got)
	}
	var leaked int
	if err := st.d.Pool.QueryRow(ctx, `SELECT count(*) FROM referral_events WHERE referral_id = $1 AND details::text LIKE '%s3cr3t%'`, id).Scan(&leaked); err != nil || leaked != 0 {
		t.Fatalf("%d referral events carry the receiver's answer (%v)", leaked, err)
	}

	healthy.Store(true)
	admin("POST", "/api/v1/webhook-deliveries/"+deliveryID+"/replay")
	st.waitCount(t, ctx, "delivered", 1, `SELECT count(*) FROM webhook_deliveries WHERE id = $1 AND status = 'delivered'`, deliveryID)
	if n := delivered.Load(); n != 1 {
		t.Fatalf("%d announcements, want 1", n)
	}
}
