package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/hubspotsim"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot/signature"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
)

// cardWorld is referflow as HubSpot's app card reaches it: the API on a
// port, a worker, real Postgres and Temporal, and a workspace connected to
// a portal of the HubSpot simulator, which serves the card's hubspot.fetch.
type cardWorld struct {
	url   string
	d     *testenv.Database
	fx    testenv.ReferralFixture
	hs    *testenv.HubSpotWorld
	admin adminClient
	logs  *testenv.LogBuffer
}

// cardUser is the HubSpot user looking at the card.
const (
	cardUserID    = 7001
	cardUserEmail = "rep@acme.test"
)

func newCardWorld(t testing.TB, logs *testenv.LogBuffer) *cardWorld {
	t.Helper()
	w := &cardWorld{d: testenv.NewDatabase(t), logs: logs}
	if w.logs == nil {
		w.logs = &testenv.LogBuffer{}
	}
	tc := testenv.NewTemporal(t)
	ts := httptest.NewUnstartedServer(nil)
	w.url = "http://" + ts.Listener.Addr().String()
	w.fx = w.d.SeedReferral(t)
	w.hs = testenv.ConnectHubSpot(t, w.d, w.fx.Workspace.ID, w.url)
	w.hs.Sim.SetCardPermittedURLs(w.url)

	// Leads become HubSpot contacts; an approval earns the member 40 EUR,
	// held 14 days.
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{
		Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateDoNothing,
		FieldMapping: []campaign.FieldMapping{
			{Object: "contact", Source: "email", Property: "email"},
			{Object: "contact", Source: "first_name", Property: "firstname"},
		},
	}
	s.Rewards = campaign.Rewards{OnStatus: referral.Approved, HoldDays: 14, Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "40", Currency: "EUR"}}
	w.d.SetCampaignSettings(t, w.fx.Campaign, s)

	wk := worker.New(tc.Client, w.d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue, HubSpot: w.hs.Manager, PublicURL: w.url})
	if err := wk.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wk.Stop)
	public, _ := url.Parse(w.url)
	srv := New(Deps{
		Pool: w.d.Pool, Temporal: tc.Client, Logger: slog.New(slog.NewJSONHandler(w.logs, nil)), PublicURL: public,
		Auth:          &adminauth.Authenticator{Queries: w.d.Queries, Sessions: adminauth.NewSessions([]byte("test-key-0123456789abcdef0123456"))},
		WebhookSecret: hubspotsim.DefaultClientSecret, HubSpotAppID: 1, HubSpot: w.hs.Manager,
		TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue,
	})
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	_, key, err := adminauth.CreateAdmin(context.Background(), w.d.Queries, w.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	if tt, ok := t.(*testing.T); ok {
		w.admin = adminClient{t: tt, h: srv.Handler(), key: key}
	}
	return w
}

// cardURL is the URL the card fetches on a record (CardURL, as the card in
// hubspot-project/ builds it).
func (w *cardWorld) cardURL(path string, t hubspotobject.Type, id string) string {
	n, _ := strconv.ParseInt(id, 10, 64)
	base, _ := url.Parse(w.url)
	return CardURL(base, path, hubspotobject.Ref{Type: t, ID: n})
}

// fetch is the card's hubspot.fetch through the simulator.
func (w *cardWorld) fetch(t testing.TB, portal int64, method, target string, body any) hubspotsim.CardFetchResponse {
	t.Helper()
	res, err := w.hs.Sim.CardFetch(context.Background(), hubspotsim.CardFetchRequest{
		PortalID: portal, URL: target, Method: method, Body: body, UserID: cardUserID, UserEmail: cardUserEmail,
	})
	if err != nil {
		t.Fatalf("hubspot.fetch %s %s: %v", method, target, err)
	}
	if !strings.HasPrefix(res.ContentType, "application/json") {
		t.Fatalf("%s %s = %d %s: not JSON", method, target, res.Status, res.ContentType)
	}
	return res
}

// card reads the card of a record and wants it answered 200.
func (w *cardWorld) card(t testing.TB, typ hubspotobject.Type, id string) CardView {
	t.Helper()
	res := w.fetch(t, w.hs.PortalID, "GET", w.cardURL(CardPath, typ, id), nil)
	var v CardView
	if res.Status != http.StatusOK || res.JSON(&v) != nil {
		t.Fatalf("card of %s %s = %d %s", typ, id, res.Status, res.Body)
	}
	return v
}

// decide is Approve or Deny on the card of a record.
func (w *cardWorld) decide(t testing.TB, typ hubspotobject.Type, id, referralID, status, reason string) (int, CardView, ErrorDetail) {
	t.Helper()
	res := w.fetch(t, w.hs.PortalID, "POST", w.cardURL(CardActionPath, typ, id),
		map[string]string{"referral_id": referralID, "status": status, "reason": reason})
	var v CardView
	var eb ErrorBody
	if res.Status == http.StatusOK {
		if err := res.JSON(&v); err != nil {
			t.Fatal(err)
		}
	} else if err := res.JSON(&eb); err != nil || eb.Error.Message == "" {
		t.Fatalf("decision = %d %s: not the JSON error", res.Status, res.Body)
	}
	return res.Status, v, eb.Error
}

// addLead adds a referral of the seeded member through the admin API and
// waits until its lead is a HubSpot contact.
func (w *cardWorld) addLead(t *testing.T, email, first string) ReferralView {
	t.Helper()
	rec := w.admin.call("POST", "/api/v1/campaigns/"+w.fx.Campaign.ID.String()+"/referrals",
		`{"member_code":"`+w.fx.Member.ReferralCode+`","lead":{"email":"`+email+`","first_name":"`+first+`"}}`)
	var ref ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &ref); rec.Code != http.StatusCreated || err != nil {
		t.Fatalf("add referral = %d %s", rec.Code, rec.Body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ref.HubSpotContactID == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the lead of referral %s never reached HubSpot: %+v", ref.ID, ref)
		}
		time.Sleep(50 * time.Millisecond)
		ref = getReferralView(t, w.admin, ref.ID)
	}
	return ref
}

// TestHubSpotCardOnALeadsContact: the card on a referred lead's contact
// shows the referral (status, member, campaign); Approve on the card is the
// referral's set-status workflow update — Postgres then shows it approved,
// the audit trail names the HubSpot user, the card shows the held reward
// and its hold timer — and the workflow's refusals come back as their
// message, never a 5xx.
func TestHubSpotCardOnALeadsContact(t *testing.T) {
	t.Parallel()
	w := newCardWorld(t, nil)
	ref := w.addLead(t, "lena@example.org", "Lena")
	contact := ref.HubSpotContactID

	v := w.card(t, hubspotobject.Contact, contact)
	if v.PortalID != w.hs.PortalID || v.ObjectType != "contact" || v.ObjectID != contact || v.ReferralsTotal != 1 || len(v.Referrals) != 1 || v.Summary != "1 referral" {
		t.Fatalf("card = %+v", v)
	}
	r := v.Referrals[0]
	if r.ID != ref.ID || r.Status != referral.Pending || r.InReview || r.Lead.Email != "lena@example.org" || r.Lead.Name != "Lena" ||
		r.Member.Code != w.fx.Member.ReferralCode || r.Member.Email != w.fx.Member.Email || r.Member.Name != "Maya" ||
		r.CampaignName != w.fx.Campaign.Name || !r.CanApprove || !r.CanDeny || len(r.Rewards) != 0 || len(r.FraudFlags) != 0 ||
		r.AdminURL != w.url+"/admin/referrals/"+ref.ID {
		t.Fatalf("referral on the card = %+v", r)
	}

	// Approve: the workflow update moves it; the answer is the card again.
	code, v, e := w.decide(t, hubspotobject.Contact, contact, ref.ID, "approved", "")
	if code != http.StatusOK || v.Message != "The referral is now approved." || v.Referrals[0].Status != referral.Approved || v.Referrals[0].CanApprove {
		t.Fatalf("approve = %d %+v %+v", code, v, e)
	}
	row, err := w.d.Queries.ReferralGetByID(context.Background(), uuid.MustParse(ref.ID))
	if err != nil || row.Status != string(referral.Approved) {
		t.Fatalf("Postgres after approve: %s %v", row.Status, err)
	}
	got := getReferralView(t, w.admin, ref.ID)
	last := got.Events[len(got.Events)-1]
	for _, ev := range got.Events {
		if ev.Kind == string(referral.EventStatusChanged) && ev.ToStatus == "approved" {
			last = ev
		}
	}
	if last.Actor != "hubspot_user:7001:rep@acme.test" {
		t.Fatalf("the approval's actor = %+v, want the HubSpot user", last)
	}

	// The member's reward, held 14 days, shows with its hold timer.
	deadline := time.Now().Add(30 * time.Second)
	for len(v.Referrals[0].Rewards) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		v = w.card(t, hubspotobject.Contact, contact)
	}
	r = v.Referrals[0]
	if len(r.Rewards) != 1 || r.Rewards[0].Amount != "40.00" || r.Rewards[0].Currency != "EUR" || r.Rewards[0].Recipient != "member" ||
		r.Rewards[0].Status != "pending" || r.HoldUntil == nil || r.HoldUntil.Before(time.Now().Add(13*24*time.Hour)) {
		t.Fatalf("reward on the card = %+v hold %v", r.Rewards, r.HoldUntil)
	}

	// Refusals are the workflow validator's message, shown on the card.
	for _, tc := range []struct{ status, reason, want string }{
		{"approved", "", "already approved"},
		{"denied", "", "needs a reason"},
	} {
		code, _, e := w.decide(t, hubspotobject.Contact, contact, ref.ID, tc.status, tc.reason)
		if code != http.StatusUnprocessableEntity || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s %q = %d %+v, want 422 saying %q", tc.status, tc.reason, code, e, tc.want)
		}
	}
	// What the card cannot do is said, not tried.
	for _, tc := range []struct {
		body  map[string]string
		code  int
		field string
	}{
		{map[string]string{"referral_id": ref.ID, "status": "qualified"}, 422, "status"},
		{map[string]string{"referral_id": "nope", "status": "approved"}, 422, "referral_id"},
		{map[string]string{"referral_id": w.fx.Referral.ID.String(), "status": "approved"}, 404, ""},
		{map[string]string{"referral_id": ref.ID, "status": "approved", "extra": "x"}, 422, "extra"},
	} {
		res := w.fetch(t, w.hs.PortalID, "POST", w.cardURL(CardActionPath, hubspotobject.Contact, contact), tc.body)
		var eb ErrorBody
		if res.Status != tc.code || res.JSON(&eb) != nil || eb.Error.Message == "" || (tc.field != "" && eb.Error.Fields[tc.field] == "") {
			t.Errorf("%v = %d %s", tc.body, res.Status, res.Body)
		}
	}
	// Deny with a reason: moved back, the reward cancelled.
	code, v, e = w.decide(t, hubspotobject.Contact, contact, ref.ID, "denied", "duplicate of an earlier deal")
	if code != http.StatusOK || v.Referrals[0].Status != referral.Denied || v.Referrals[0].DeniedReason != "duplicate of an earlier deal" || v.Referrals[0].CanDeny {
		t.Fatalf("deny = %d %+v %+v", code, v, e)
	}
	// Nothing personal in the logs but IDs: the user's email never.
	if strings.Contains(w.logs.String(), cardUserEmail) {
		t.Fatalf("the HubSpot user's email was logged")
	}
}

// TestHubSpotCardOnAMembersContactAndFraudHolds: on a member's contact the
// card shows the member's link and counts; a lead the fraud checks hold
// shows in review with its fraud flags, and Approve there is refused with
// the validator's reason; a record referflow does not know says "No
// referral"; a company shows its contacts' and deals' referrals.
func TestHubSpotCardOnAMembersContactAndFraudHolds(t *testing.T) {
	t.Parallel()
	w := newCardWorld(t, nil)
	ctx := context.Background()
	memberContact, err := w.hs.Sim.CreateObject(w.hs.PortalID, "contacts", map[string]string{"email": w.fx.Member.Email, "firstname": "Maya"})
	if err != nil {
		t.Fatal(err)
	}
	mc, _ := strconv.ParseInt(memberContact, 10, 64)
	if _, err := w.d.Queries.MemberSetHubSpotContact(ctx, db.MemberSetHubSpotContactParams{ID: w.fx.Member.ID, HubspotContactID: &mc}); err != nil {
		t.Fatal(err)
	}
	v := w.card(t, hubspotobject.Contact, memberContact)
	if v.MembersTotal != 1 || len(v.Members) != 1 || v.ReferralsTotal != 0 || v.Summary != "a referring member" {
		t.Fatalf("member's card = %+v", v)
	}
	m := v.Members[0]
	if m.Code != w.fx.Member.ReferralCode || m.Link != w.url+"/r/"+w.fx.Member.ReferralCode || m.ReferralCount != 1 || m.ConvertedReferralCount != 0 ||
		m.CampaignName != w.fx.Campaign.Name || m.Email != w.fx.Member.Email {
		t.Fatalf("member on the card = %+v", m)
	}

	// A disposable email is held for review: the lead is not sent, so the
	// referral is linked to a contact as a HubSpot match would link it.
	rec := w.admin.call("POST", "/api/v1/campaigns/"+w.fx.Campaign.ID.String()+"/referrals",
		`{"member_code":"`+w.fx.Member.ReferralCode+`","lead":{"email":"zed@mailinator.com","first_name":"Zed"}}`)
	var held ReferralView
	if err := json.Unmarshal(rec.Body.Bytes(), &held); rec.Code != http.StatusCreated || err != nil {
		t.Fatalf("add referral = %d %s", rec.Code, rec.Body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !held.InReview {
		if time.Now().After(deadline) {
			t.Fatalf("referral never held for review: %+v", held)
		}
		time.Sleep(50 * time.Millisecond)
		held = getReferralView(t, w.admin, held.ID)
	}
	zed, err := w.hs.Sim.CreateObject(w.hs.PortalID, "contacts", map[string]string{"email": "zed@mailinator.com"})
	if err != nil {
		t.Fatal(err)
	}
	zedID, _ := strconv.ParseInt(zed, 10, 64)
	company := int64(424242)
	if _, err := w.d.Pool.Exec(ctx, `UPDATE referrals SET hubspot_contact_id = $2, hubspot_company_id = $3 WHERE id = $1`, held.ID, zedID, company); err != nil {
		t.Fatal(err)
	}
	v = w.card(t, hubspotobject.Contact, zed)
	if len(v.Referrals) != 1 || !v.Referrals[0].InReview || len(v.Referrals[0].FraudFlags) != 1 ||
		v.Referrals[0].FraudFlags[0].Reason != string(referral.FraudDisposableEmail) || v.Referrals[0].FraudFlags[0].Action != "review" ||
		!strings.Contains(v.Referrals[0].FraudFlags[0].Detail, "mailinator.com") {
		t.Fatalf("held referral on the card = %+v", v.Referrals)
	}
	code, _, e := w.decide(t, hubspotobject.Contact, zed, held.ID, "approved", "")
	if code != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "hold this referral for review") {
		t.Fatalf("approve a fraud-held referral = %d %+v", code, e)
	}
	// The company's card lists its referral (the type as HubSpot's
	// objectTypeId); a record referflow does not know says so.
	res := w.fetch(t, w.hs.PortalID, "GET", w.url+CardPath+"?associatedObjectType=0-2&associatedObjectId="+strconv.FormatInt(company, 10), nil)
	if err := res.JSON(&v); err != nil || res.Status != 200 || len(v.Referrals) != 1 || v.Referrals[0].ID != held.ID || v.ObjectType != "company" {
		t.Fatalf("company card = %d %s", res.Status, res.Body)
	}
	v = w.card(t, hubspotobject.Deal, "99999")
	if len(v.Referrals) != 0 || len(v.Members) != 0 || !strings.HasPrefix(v.Summary, "No referral") {
		t.Fatalf("unknown deal's card = %+v", v)
	}
}

// TestHubSpotCardRefusesWhatHubSpotDidNotSign: the card's endpoints answer
// only HubSpot's v3-signed requests, fresh, for a connected portal, with
// HubSpot's parameters once each; every refusal is a JSON error that says
// what is wrong.
func TestHubSpotCardRefusesWhatHubSpotDidNotSign(t *testing.T) {
	t.Parallel()
	w := newCardWorld(t, nil)
	portal := strconv.FormatInt(w.hs.PortalID, 10)
	signed := func(method, target, body string, at time.Time, secret string) (int, ErrorDetail) {
		t.Helper()
		req, _ := http.NewRequest(method, target, strings.NewReader(body))
		if secret != "" {
			ts := strconv.FormatInt(at.UnixMilli(), 10)
			req.Header.Set(signature.HeaderV3, signature.V3(secret, method, target, []byte(body), ts))
			req.Header.Set(signature.HeaderTimestamp, ts)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb ErrorBody
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.NewDecoder(resp.Body).Decode(&eb) != nil || eb.Error.Message == "" {
			t.Fatalf("%s %s = %d: not the JSON error", method, target, resp.StatusCode)
		}
		return resp.StatusCode, eb.Error
	}
	good := w.url + CardPath + "?associatedObjectType=0-1&associatedObjectId=5&userId=1&portalId=" + portal + "&userEmail=a%40b.co&appId=1"
	secret := hubspotsim.DefaultClientSecret
	now := time.Now()
	for name, tc := range map[string]struct {
		method, target string
		at             time.Time
		secret         string
		code           int
		errCode        string
	}{
		"unsigned":            {"GET", good, now, "", 401, "missing_signature"},
		"another secret":      {"GET", good, now, "not-the-secret", 401, "invalid_signature"},
		"stale timestamp":     {"GET", good, now.Add(-6 * time.Minute), secret, 401, "stale_signature"},
		"unknown portal":      {"GET", strings.Replace(good, "portalId="+portal, "portalId=4040", 1), now, secret, 404, "not_found"},
		"portalId twice":      {"GET", good + "&portalId=4040", now, secret, 400, "bad_request"},
		"another app":         {"GET", strings.Replace(good, "appId=1", "appId=2", 1), now, secret, 400, "bad_request"},
		"no record":           {"GET", strings.Replace(good, "associatedObjectId=5", "", 1), now, secret, 400, "bad_request"},
		"a ticket":            {"GET", strings.Replace(good, "0-1", "0-5", 1), now, secret, 400, "bad_request"},
		"action unsigned":     {"POST", strings.Replace(good, CardPath, CardActionPath, 1), now, "", 401, "missing_signature"},
		"action unknown verb": {"DELETE", good, now, secret, 405, "method_not_allowed"},
	} {
		code, e := signed(tc.method, tc.target, "", tc.at, tc.secret)
		if code != tc.code || e.Code != tc.errCode {
			t.Errorf("%s: %d %+v, want %d %s", name, code, e, tc.code, tc.errCode)
		}
	}
	// A v1 signature (the body alone, no URL, no time) is not enough.
	req, _ := http.NewRequest("GET", good, nil)
	req.Header.Set(signature.HeaderV1V2, signature.V1(secret, nil))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("v1-signed card request = %d, want 401", resp.StatusCode)
	}
	// Through HubSpot (the simulator), another portal of the same app that
	// no workspace connected is 404 with the JSON error.
	other := w.hs.Sim.CreatePortal("Not connected")
	res := w.fetch(t, other.ID, "GET", w.cardURL(CardPath, hubspotobject.Contact, "5"), nil)
	var eb ErrorBody
	if res.Status != http.StatusNotFound || res.JSON(&eb) != nil || !strings.Contains(eb.Error.Message, strconv.FormatInt(other.ID, 10)) {
		t.Fatalf("unconnected portal = %d %s", res.Status, res.Body)
	}
}

// TestCardGuardHoldsAPortalToTwenty: the per-portal guard admits 20 at a
// time per portal, each portal on its own.
func TestCardGuardHoldsAPortalToTwenty(t *testing.T) {
	t.Parallel()
	g := newCardGuard(CardConcurrencyPerPortal)
	var releases []func()
	for range CardConcurrencyPerPortal {
		release, ok := g.acquire(1)
		if !ok {
			t.Fatal("refused under the limit")
		}
		releases = append(releases, release)
	}
	if _, ok := g.acquire(1); ok {
		t.Fatal("a 21st was admitted")
	}
	if release, ok := g.acquire(2); !ok {
		t.Fatal("another portal was refused")
	} else {
		release()
	}
	releases[0]()
	releases[0]() // twice is once
	if _, ok := g.acquire(1); !ok {
		t.Fatal("a slot given back was not reused")
	}
	if _, ok := g.acquire(1); ok {
		t.Fatal("a double release freed two slots")
	}
}

// TestCardAnswerStaysUnderHubSpotsLimit: an answer that would pass the cap
// is cut, and says so.
func TestCardAnswerStaysUnderHubSpotsLimit(t *testing.T) {
	t.Parallel()
	v := CardView{Referrals: []CardReferral{}, Members: []CardMember{}}
	long := strings.Repeat("x", 100<<10)
	for i := range cardMaxReferrals {
		v.Referrals = append(v.Referrals, CardReferral{ID: strconv.Itoa(i), DeniedReason: long})
	}
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest("GET", "/", nil), rec)
	if err := cardJSON(c, http.StatusOK, v); err != nil {
		t.Fatal(err)
	}
	var got CardView
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Body.Len() > cardMaxAnswerBytes || !got.Truncated || len(got.Referrals) == 0 {
		t.Fatalf("answer of %d bytes, truncated %v, %d referrals, %v", rec.Body.Len(), got.Truncated, len(got.Referrals), err)
	}
	if clipped := clip(strings.Repeat("é", cardMaxText)); len(clipped) > cardMaxText+len("…") || !strings.HasSuffix(clipped, "…") {
		t.Fatalf("clip = %d bytes", len(clipped))
	}
}
