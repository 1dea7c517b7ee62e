package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// anyErrType is the type of any ApplicationError, retryable or not.
func anyErrType(err error) (typ string, retryable bool) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type(), !appErr.NonRetryable()
	}
	return "", true
}

// rewardWorld is a seeded referral whose campaign has reward settings.
type rewardWorld struct {
	d  *testenv.Database
	fx testenv.ReferralFixture
	a  *activities.Activities
}

func newRewardWorld(t *testing.T, rules campaign.Rewards, fulfilmentURL string) rewardWorld {
	t.Helper()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	raw, err := json.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	var url *string
	if fulfilmentURL != "" {
		url = &fulfilmentURL
	}
	if _, err := d.Pool.Exec(context.Background(),
		`UPDATE campaigns SET reward_rules = $1, fulfilment_webhook_url = $2 WHERE id = $3`, raw, url, fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	a := activities.New(d.Pool)
	a.WebhookPolicy = testenv.LoopbackWebhooks(t) // the receivers are httptest servers
	return rewardWorld{d: d, fx: fx, a: a}
}

func (w rewardWorld) setSale(t *testing.T, value, currency string) {
	t.Helper()
	if _, err := w.d.Pool.Exec(context.Background(),
		`UPDATE referrals SET sale_value = $1::numeric, currency = $2 WHERE id = $3`, value, currency, w.fx.Referral.ID); err != nil {
		t.Fatal(err)
	}
}

func (w rewardWorld) events(t *testing.T, kind string) []db.ReferralEvent {
	t.Helper()
	all, err := w.d.Queries.ReferralEventListByReferral(context.Background(), w.fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.ReferralEvent
	for _, ev := range all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (w rewardWorld) rewards(t *testing.T) []db.Reward {
	t.Helper()
	rows, err := w.d.Queries.RewardListByReferral(context.Background(), w.fx.Referral.ID)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func (w rewardWorld) reward(t *testing.T, id string) db.Reward {
	t.Helper()
	row, err := w.d.Queries.RewardGetByID(context.Background(), uuid.MustParse(id))
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func (w rewardWorld) create(t *testing.T) []activities.RewardRef {
	t.Helper()
	refs, err := w.a.CreateRewards(context.Background(), activities.CreateRewardsInput{ReferralID: w.fx.Referral.ID.String(), Conversion: 1})
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

// receiver is a fulfilment service that verifies every delivery.
type receiver struct {
	t      *testing.T
	secret []byte
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    []delivery
}

type delivery struct {
	eventID string
	body    []byte
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: []byte(secret)}
	r.status.Store(http.StatusOK)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := outgoing.Verify(r.secret, req.Header.Get(outgoing.SignatureHeader), body, time.Now()); err != nil {
			t.Errorf("receiver: %v", err)
		}
		if req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("receiver: Content-Type %q", req.Header.Get("Content-Type"))
		}
		r.mu.Lock()
		r.got = append(r.got, delivery{req.Header.Get(outgoing.EventIDHeader), body})
		r.mu.Unlock()
		w.WriteHeader(int(r.status.Load()))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func TestCreateRewardsComputesExactAmountsOnce(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{
		OnStatus: "approved",
		Member:   &campaign.Reward{Kind: "fixed", Amount: "50", Currency: "EUR"},
		Friend:   &campaign.Reward{Kind: "percentage", Percent: "10"},
	}, "")
	w.setSale(t, "1234.55", "EUR")
	hold := time.Now().Add(14 * 24 * time.Hour).Truncate(time.Microsecond)
	in := activities.CreateRewardsInput{ReferralID: w.fx.Referral.ID.String(), Conversion: 1, HoldUntil: hold}

	first, err := w.a.CreateRewards(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0].Recipient != "member" || first[0].Amount != "50.00" || first[0].Currency != "EUR" ||
		first[1].Recipient != "friend" || first[1].Amount != "123.46" || first[1].Currency != "EUR" ||
		first[0].Status != "pending" || first[0].HoldUntil == nil || !first[0].HoldUntil.Equal(hold) {
		t.Fatalf("first call: %+v", first)
	}
	// The sale value changes, then the activity is retried: the rewards
	// already recorded are returned as they are.
	w.setSale(t, "99.99", "EUR")
	second, err := w.a.CreateRewards(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 2 || second[0].ID != first[0].ID || second[1].ID != first[1].ID || second[1].Amount != "123.46" {
		t.Fatalf("retry: %+v, want %+v", second, first)
	}
	if n := len(w.rewards(t)); n != 2 {
		t.Fatalf("%d rewards, want 2", n)
	}
	rows := []db.Reward{w.reward(t, first[0].ID), w.reward(t, first[1].ID)}
	if rows[0].MemberID == nil || *rows[0].MemberID != w.fx.Member.ID || rows[1].MemberID != nil {
		t.Fatalf("rows: %+v", rows)
	}
	if rows[0].IdempotencyKey != reward.IdempotencyKey(w.fx.Referral.ID.String(), "member", 1) {
		t.Fatalf("key %q", rows[0].IdempotencyKey)
	}
	if evs := w.events(t, "reward_created"); len(evs) != 2 {
		t.Fatalf("%d reward_created events, want 2", len(evs))
	}
}

func TestCreateRewardsPercentageRounding(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{Member: &campaign.Reward{Kind: "percentage", Percent: "2.5"}}, "")
	w.setSale(t, "99.99", "USD")
	refs := w.create(t)
	if len(refs) != 1 || refs[0].Amount != "2.50" || refs[0].Currency != "USD" {
		t.Fatalf("2.5%% of 99.99: %+v", refs)
	}
	if got := w.rewards(t)[0].Amount; got.Int.Int64()*pow10(int(got.Exp)+2) != 250 {
		t.Fatalf("stored amount %+v", got)
	}
}

func pow10(n int) int64 {
	p := int64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

func TestCreateRewardsPercentageWithoutSaleValue(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{
		Member: &campaign.Reward{Kind: "fixed", Amount: "5", Currency: "EUR"},
		Friend: &campaign.Reward{Kind: "percentage", Percent: "10"},
	}, "")
	_, err := w.a.CreateRewards(context.Background(), activities.CreateRewardsInput{ReferralID: w.fx.Referral.ID.String()})
	if errType(err) != activities.ErrTypeNoSaleValue || !strings.Contains(err.Error(), "no sale value yet") {
		t.Fatalf("got %v, want a non-retryable NoSaleValue saying \"no sale value yet\"", err)
	}
	if rows := w.rewards(t); len(rows) != 0 {
		t.Fatalf("wrote %d rewards, want none", len(rows))
	}
}

func TestCreateRewardsConversions(t *testing.T) {
	t.Parallel()
	rules := campaign.Rewards{Member: &campaign.Reward{Kind: "fixed", Amount: "5", Currency: "EUR"}}
	w := newRewardWorld(t, rules, "")
	ctx := context.Background()
	id := w.fx.Referral.ID.String()
	w.create(t)
	refs, err := w.a.CreateRewards(ctx, activities.CreateRewardsInput{ReferralID: id, Conversion: 2})
	if err != nil || len(refs) != 0 {
		t.Fatalf("second conversion, first only: %+v %v", refs, err)
	}
	rules.EveryConversion = true
	raw, _ := json.Marshal(rules)
	if _, err := w.d.Pool.Exec(ctx, `UPDATE campaigns SET reward_rules = $1 WHERE id = $2`, raw, w.fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	refs, err = w.a.CreateRewards(ctx, activities.CreateRewardsInput{ReferralID: id, Conversion: 2})
	if err != nil || len(refs) != 1 || refs[0].Conversion != 2 {
		t.Fatalf("second conversion, every: %+v %v", refs, err)
	}
	if rows := w.rewards(t); len(rows) != 2 {
		t.Fatalf("%d rewards, want 2", len(rows))
	}
	if _, err := w.a.CreateRewards(ctx, activities.CreateRewardsInput{ReferralID: "nope"}); errType(err) != "InvalidInput" {
		t.Fatalf("bad ID: %v", err)
	}
}

// IssueReward retried three times (each attempt's answer lost, say) issues
// once, records once and queues one announcement, which the dispatcher
// delivers once, signed, with the event ID and the reward's details.
func TestIssueRewardExactlyOnce(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{Member: &campaign.Reward{Kind: "fixed", Amount: "25", Currency: "EUR"}}, "")
	rcv := newReceiver(t, w.fx.Workspace.WebhookSigningSecret)
	ctx := context.Background()
	if _, err := w.d.Pool.Exec(ctx, `UPDATE campaigns SET fulfilment_webhook_url = $1 WHERE id = $2`, rcv.srv.URL+"/fulfil", w.fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	// Approved as the workflow approves it: the member's counts follow.
	if err := w.a.ChangeReferralStatus(ctx, activities.StatusChange{
		ReferralID: w.fx.Referral.ID.String(), From: referral.Pending, To: referral.Approved, Actor: "system", IdempotencyKey: "approve",
	}); err != nil {
		t.Fatal(err)
	}
	refs := w.create(t)

	for attempt := 1; attempt <= 3; attempt++ {
		res, err := w.a.IssueReward(ctx, refs[0].ID)
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		if res.EventID != activities.RewardIssuedEventID(refs[0].ID) {
			t.Fatalf("attempt %d: %+v", attempt, res)
		}
	}
	rows := w.rewards(t)
	if len(rows) != 1 || rows[0].Status != "issued" || rows[0].IssuedAt == nil {
		t.Fatalf("rewards: %+v", rows)
	}
	if n := len(w.events(t, "reward_issued")); n != 1 {
		t.Fatalf("%d reward_issued events, want 1", n)
	}
	if got := rcv.deliveries(); len(got) != 0 {
		t.Fatalf("%d webhooks sent by the activity, want none: the dispatcher sends them", len(got))
	}
	dispatcher := &webhookdelivery.Dispatcher{Pool: w.d.Pool, Client: outgoing.NewClient(w.a.WebhookPolicy)}
	for range 2 {
		if _, err := dispatcher.Once(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := rcv.deliveries()
	if len(got) != 1 || got[0].eventID != activities.RewardIssuedEventID(refs[0].ID) {
		t.Fatalf("deliveries %+v, want one of the reward's event", got)
	}
	var ev struct {
		ID   string                      `json:"id"`
		Type string                      `json:"type"`
		Data activities.RewardIssuedData `json:"data"`
	}
	if err := json.Unmarshal(got[0].body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != got[0].eventID || ev.Type != "reward.issued" || ev.Data.RewardID != refs[0].ID || ev.Data.Amount != "25.00" ||
		ev.Data.Currency != "EUR" || ev.Data.Member.Email != "maya@example.com" || ev.Data.Friend.Email != "leo@example.org" {
		t.Fatalf("event %s", got[0].body)
	}
	m, err := w.d.Queries.MemberGetByID(ctx, w.fx.Member.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.ReferralCount != 1 || m.ConvertedReferralCount != 1 {
		t.Fatalf("member counts %d/%d, want 1/1", m.ReferralCount, m.ConvertedReferralCount)
	}
}

// A receiver that is down no longer fails the activity: the reward is issued
// and its announcement waits in the outbox, pending, for the dispatcher.
func TestIssueRewardDoesNotWaitForTheReceiver(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{Friend: &campaign.Reward{Kind: "fixed", Amount: "10", Currency: "USD"}}, "")
	rcv := newReceiver(t, w.fx.Workspace.WebhookSigningSecret)
	rcv.status.Store(http.StatusInternalServerError)
	ctx := context.Background()
	if _, err := w.d.Pool.Exec(ctx, `UPDATE campaigns SET fulfilment_webhook_url = $1 WHERE id = $2`, rcv.srv.URL, w.fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	id := w.create(t)[0].ID
	res, err := w.a.IssueReward(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rows := w.rewards(t); rows[0].Status != "issued" {
		t.Fatalf("status %s, want issued", rows[0].Status)
	}
	d, err := w.d.Queries.WebhookDeliveryGetByEvent(ctx, db.WebhookDeliveryGetByEventParams{WorkspaceID: w.fx.Workspace.ID, EventID: res.EventID})
	if err != nil || d.Status != "pending" || d.EventType != "reward.issued" || d.CampaignID != w.fx.Campaign.ID || len(rcv.deliveries()) != 0 {
		t.Fatalf("outbox row %+v %v, want the pending reward.issued, nothing sent yet", d, err)
	}
}

func TestIssueRewardWithoutFulfilmentURL(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{Member: &campaign.Reward{Kind: "fixed", Amount: "1", Currency: "EUR"}}, "")
	id := w.create(t)[0].ID
	res, err := w.a.IssueReward(context.Background(), id)
	if err != nil || res.EventID != "" {
		t.Fatalf("%+v %v", res, err)
	}
	evs := w.events(t, "reward_issued")
	if len(evs) != 1 || !strings.Contains(string(evs[0].Details), "no fulfilment URL") {
		t.Fatalf("events %+v", evs)
	}
}

func TestIssueRewardRefusesNonHTTPURL(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{Member: &campaign.Reward{Kind: "fixed", Amount: "1", Currency: "EUR"}}, "file:///etc/passwd")
	id := w.create(t)[0].ID
	if _, err := w.a.IssueReward(context.Background(), id); errType(err) != activities.ErrTypeInvalidFulfilmentURL {
		t.Fatalf("got %v, want a non-retryable InvalidFulfilmentURL", err)
	}
	if rows := w.rewards(t); rows[0].Status != "pending" {
		t.Fatalf("status %s, want pending: nothing issued", rows[0].Status)
	}
}

func TestCancelledRewardIsNeverIssued(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{
		Member: &campaign.Reward{Kind: "fixed", Amount: "1", Currency: "EUR"},
		Friend: &campaign.Reward{Kind: "fixed", Amount: "2", Currency: "EUR"},
	}, "")
	ctx := context.Background()
	refs := w.create(t)
	cancel := activities.CancelRewardInput{RewardID: refs[0].ID, Reason: "deal left the winning stage during the hold"}
	for attempt := 1; attempt <= 2; attempt++ {
		if err := w.a.CancelReward(ctx, cancel); err != nil {
			t.Fatalf("cancel attempt %d: %v", attempt, err)
		}
	}
	if _, err := w.a.IssueReward(ctx, refs[0].ID); errType(err) != activities.ErrTypeRewardCancelled {
		t.Fatalf("issue after cancel: %v, want a non-retryable RewardCancelled", err)
	}
	row := w.reward(t, refs[0].ID)
	if row.Status != "cancelled" || row.IssuedAt != nil || row.CancelReason == nil || *row.CancelReason != cancel.Reason {
		t.Fatalf("cancelled reward %+v", row)
	}
	if n := len(w.events(t, "reward_cancelled")); n != 1 {
		t.Fatalf("%d reward_cancelled events, want 1", n)
	}
	if n := len(w.events(t, "reward_issued")); n != 0 {
		t.Fatalf("%d reward_issued events, want 0", n)
	}

	// An issued reward cannot be cancelled.
	if _, err := w.a.IssueReward(ctx, refs[1].ID); err != nil {
		t.Fatal(err)
	}
	err := w.a.CancelReward(ctx, activities.CancelRewardInput{RewardID: refs[1].ID, Reason: "admin", Actor: "admin:1"})
	if errType(err) != activities.ErrTypeRewardAlreadyIssued {
		t.Fatalf("cancel issued: %v, want a non-retryable RewardAlreadyIssued", err)
	}
	if err := w.a.CancelReward(ctx, activities.CancelRewardInput{RewardID: refs[1].ID}); errType(err) != "InvalidInput" {
		t.Fatalf("cancel without a reason: %v", err)
	}
}

func TestMarkRewardPaid(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{Member: &campaign.Reward{Kind: "fixed", Amount: "1", Currency: "EUR"}}, "")
	ctx := context.Background()
	id := w.create(t)[0].ID
	in := activities.MarkRewardPaidInput{RewardID: id, Actor: "admin:7"}
	if err := w.a.MarkRewardPaid(ctx, in); errType(err) != activities.ErrTypeRewardNotIssued {
		t.Fatalf("paid while pending: %v, want RewardNotIssued", err)
	}
	if _, err := w.a.IssueReward(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := w.a.MarkRewardPaid(ctx, in); err != nil {
		t.Fatal(err)
	}
	first := w.rewards(t)[0].PaidAt
	if err := w.a.MarkRewardPaid(ctx, in); err != nil {
		t.Fatal(err)
	}
	again := w.rewards(t)[0].PaidAt
	if first == nil || again == nil || !first.Equal(*again) {
		t.Fatalf("paid_at %v then %v", first, again)
	}
	evs := w.events(t, "reward_paid")
	if len(evs) != 1 || evs[0].Actor != "admin:7" {
		t.Fatalf("reward_paid events %+v", evs)
	}
}

// Issue and cancel racing on one reward (a retry overlapping an admin's
// cancel, or two workers) leave one consistent outcome: the row lock
// serialises them.
func TestIssueRewardConcurrently(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{Member: &campaign.Reward{Kind: "fixed", Amount: "3", Currency: "EUR"}}, "")
	ctx := context.Background()
	id := w.create(t)[0].ID
	var wg sync.WaitGroup
	var issued, cancelled atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := w.a.IssueReward(ctx, id); err == nil {
				issued.Add(1)
			} else if errType(err) != activities.ErrTypeRewardCancelled {
				t.Errorf("issue: %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			err := w.a.CancelReward(ctx, activities.CancelRewardInput{RewardID: id, Reason: "race"})
			if err == nil {
				cancelled.Add(1)
			} else if errType(err) != activities.ErrTypeRewardAlreadyIssued {
				t.Errorf("cancel: %v", err)
			}
		}()
	}
	wg.Wait()
	row := w.reward(t, id)
	nIssued, nCancelled := len(w.events(t, "reward_issued")), len(w.events(t, "reward_cancelled"))
	switch row.Status {
	case "issued":
		if nIssued != 1 || nCancelled != 0 || issued.Load() != 8 || cancelled.Load() != 0 {
			t.Fatalf("issued: %d issued / %d cancelled events, %d/%d successes", nIssued, nCancelled, issued.Load(), cancelled.Load())
		}
	case "cancelled":
		if nIssued != 0 || nCancelled != 1 || issued.Load() != 0 || cancelled.Load() != 8 {
			t.Fatalf("cancelled: %d issued / %d cancelled events, %d/%d successes", nIssued, nCancelled, issued.Load(), cancelled.Load())
		}
	default:
		t.Fatalf("status %s", row.Status)
	}
}

// Giving up a reward: a pending one is failed and never issued; one already
// issued (its announcement kept failing) stays issued, and the trail says
// the endpoint was not told. Each is recorded once however often retried.
func TestFailRewardGivesUpOnce(t *testing.T) {
	t.Parallel()
	w := newRewardWorld(t, campaign.Rewards{
		Member: &campaign.Reward{Kind: "fixed", Amount: "1", Currency: "EUR"},
		Friend: &campaign.Reward{Kind: "fixed", Amount: "2", Currency: "EUR"},
	}, "")
	ctx := context.Background()
	refs := w.create(t)
	for attempt := 1; attempt <= 2; attempt++ {
		if err := w.a.FailReward(ctx, activities.FailRewardInput{RewardID: refs[0].ID, Reason: "the endpoint is gone", Actor: "admin:1"}); err != nil {
			t.Fatalf("give up attempt %d: %v", attempt, err)
		}
	}
	if row := w.reward(t, refs[0].ID); row.Status != "failed" || row.FailureReason == nil || *row.FailureReason != "the endpoint is gone" {
		t.Fatalf("given-up reward %+v", row)
	}
	if _, err := w.a.IssueReward(ctx, refs[0].ID); errType(err) != activities.ErrTypeRewardCancelled {
		t.Fatalf("issue after giving up: %v, want a non-retryable RewardCancelled", err)
	}
	if _, err := w.a.IssueReward(ctx, refs[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := w.a.FailReward(ctx, activities.FailRewardInput{RewardID: refs[1].ID, Reason: "stop announcing", Actor: "admin:1"}); err != nil {
		t.Fatal(err)
	}
	if row := w.reward(t, refs[1].ID); row.Status != "issued" {
		t.Fatalf("an issued reward given up is %s, want still issued", row.Status)
	}
	if n := len(w.events(t, "reward_failed")); n != 2 {
		t.Fatalf("%d reward_failed events, want 2 (one per reward)", n)
	}
}
