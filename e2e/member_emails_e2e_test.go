package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/api"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/mailcatcher"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// emailStack is the real stack of emails to members: Postgres, the
// Temporal dev server, a worker and the api on a loopback listener, with
// REFERFLOW_SMTP_URL pointing at the mail catcher, which the tests read.
type emailStack struct {
	d      *testenv.Database
	tc     *testenv.Temporal
	fx     testenv.ReferralFixture
	mail   *mailcatcher.Catcher
	apiURL string
	key    string
	// acts calls the email activities directly, as a retry would.
	acts *activities.Activities
}

var emailTestKey = []byte("email-test-key-0123456789abcdef!")

func newEmailStack(t *testing.T) *emailStack {
	t.Helper()
	st := &emailStack{d: testenv.NewDatabase(t), tc: testenv.NewTemporal(t)}
	st.fx = st.d.SeedReferral(t)
	var err error
	if st.mail, err = mailcatcher.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.mail.Close)
	server, err := email.ParseServerURL(st.mail.SMTPURL("Acme referrals <referrals@acme.test>"))
	if err != nil {
		t.Fatal(err)
	}
	sender := email.NewSender(server, "refer.acme.test")

	var handler http.Handler
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(apiSrv.Close)
	st.apiURL = apiSrv.URL
	public, _ := url.Parse(apiSrv.URL)
	handler = api.New(api.Deps{
		Pool: st.d.Pool, Temporal: st.tc.Client, Logger: slog.New(slog.DiscardHandler), PublicURL: public,
		TaskQueue: st.tc.TaskQueue, HubSpotTaskQueue: st.tc.HubSpotTaskQueue,
		Auth:          &adminauth.Authenticator{Queries: st.d.Queries, Sessions: adminauth.NewSessions(emailTestKey)},
		EncryptionKey: emailTestKey, SMTP: server,
	}).Handler()
	if _, st.key, err = adminauth.CreateAdmin(context.Background(), st.d.Queries, st.fx.Workspace.ID, "ops@acme.test", ""); err != nil {
		t.Fatal(err)
	}

	ws := worker.New(st.tc.Client, st.d.Pool, worker.Options{
		TaskQueue: st.tc.TaskQueue, HubSpotTaskQueue: st.tc.HubSpotTaskQueue, PublicURL: apiSrv.URL,
		Email: sender, EncryptionKey: emailTestKey,
	})
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.Stop)
	st.acts = activities.New(st.d.Pool)
	st.acts.Email, st.acts.EmailLinks = sender, activities.NewEmailLinks(apiSrv.URL, emailTestKey)

	s := campaign.Defaults()
	s.Rewards = campaign.Rewards{OnStatus: referral.Approved, Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"}}
	st.d.SetCampaignSettings(t, st.fx.Campaign, s)
	return st
}

// call sends an admin API request and decodes its JSON answer into out.
func (st *emailStack) call(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, st.apiURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+st.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s = %d %s: %v", method, path, res.StatusCode, b, err)
		}
	}
	return res.StatusCode
}

func (st *emailStack) invite(t *testing.T, ids ...uuid.UUID) api.InviteResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"member_ids": ids})
	var res api.InviteResult
	if code := st.call(t, "POST", "/api/v1/campaigns/"+st.fx.Campaign.ID.String()+"/invites", string(body), &res); code != http.StatusAccepted {
		t.Fatalf("invite = %d %+v", code, res)
	}
	return res
}

// approve moves a referral to approved through its workflow, as an admin.
func (st *emailStack) approve(ctx context.Context, t *testing.T, r db.Referral) {
	t.Helper()
	run, err := workflows.StartReferralWorkflow(ctx, st.tc.Client, st.tc.TaskQueue, st.tc.HubSpotTaskQueue, r.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []referral.Status{referral.Qualified, referral.Approved} {
		if _, err := setStatus(ctx, st.tc.Client, run.GetID(), workflows.SetStatusRequest{Status: to, Actor: "admin:test"}); err != nil {
			t.Fatalf("set %s: %v", to, err)
		}
	}
}

// waitMessages waits until the catcher holds at least n messages.
func (st *emailStack) waitMessages(ctx context.Context, t *testing.T, n int) []mailcatcher.Message {
	t.Helper()
	for {
		changed := st.mail.Changed()
		if msgs := st.mail.Messages(); len(msgs) >= n {
			return msgs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the mail catcher holds %d messages, want %d: %+v", len(st.mail.Messages()), n, subjects(st.mail.Messages()))
		case <-changed:
		}
	}
}

func subjects(msgs []mailcatcher.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Subject)
	}
	return out
}

func (st *emailStack) emailOf(ctx context.Context, t *testing.T, kind email.Kind, subject uuid.UUID) db.Email {
	t.Helper()
	e, err := st.d.Queries.EmailGetByKey(ctx, db.EmailGetByKeyParams{Kind: string(kind), SubjectID: subject})
	if err != nil {
		t.Fatalf("the %s email of %s: %v", kind, subject, err)
	}
	return e
}

// waitSettled waits until the email of an event is settled: the catcher
// has a message as soon as the server accepts it, and the row is marked
// sent right after.
func (st *emailStack) waitSettled(ctx context.Context, t *testing.T, kind email.Kind, subject uuid.UUID) db.Email {
	t.Helper()
	for {
		row := st.emailOf(ctx, t, kind, subject)
		if email.Status(row.Status).Done() {
			return row
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the %s email of %s never settled: %+v", kind, subject, row)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestEmailsToAMemberGoOutOnceEach: a member gets the welcome (an admin's
// invite), "your referral was approved" and "you earned a reward", each
// caught by the mail catcher exactly once over real SMTP, as plain text and
// HTML with List-Unsubscribe, carrying links that work — even when every
// step is asked again (activity retries, a second invite, a second start).
func TestEmailsToAMemberGoOutOnceEach(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newEmailStack(t)
	m := st.fx.Member

	if res := st.invite(t, m.ID, uuid.New()); len(res.Invited) != 1 || len(res.NotInvited) != 1 || res.NotInvited[0].Reason != "not a member of this campaign" {
		t.Fatalf("invite = %+v", res)
	}
	st.approve(ctx, t, st.fx.Referral)
	msgs := st.waitMessages(ctx, t, 3)
	bySubject := map[string]mailcatcher.Message{}
	for _, msg := range msgs {
		bySubject[msg.Subject] = msg
	}
	welcome, ok := bySubject["Your referral link for Spring referrals"]
	approved, ok2 := bySubject["Your referral was approved"]
	earned, ok3 := bySubject["You earned a reward: 50.00 USD"]
	if !ok || !ok2 || !ok3 {
		t.Fatalf("caught %q", subjects(msgs))
	}
	link := st.apiURL + "/r/" + m.ReferralCode
	for _, msg := range []mailcatcher.Message{welcome, approved, earned} {
		if len(msg.To) != 1 || msg.To[0] != m.Email || msg.From != "referrals@acme.test" {
			t.Errorf("%q: envelope from %q to %q", msg.Subject, msg.From, msg.To)
		}
		if !strings.HasPrefix(msg.Header.Get("Content-Type"), "multipart/alternative;") || msg.Text == "" || msg.HTML == "" {
			t.Errorf("%q: Content-Type %q, text %d bytes, HTML %d bytes", msg.Subject, msg.Header.Get("Content-Type"), len(msg.Text), len(msg.HTML))
		}
		if !strings.Contains(msg.Text, "Hi Maya,") || !strings.Contains(msg.Text, link) || !strings.Contains(msg.HTML, `href="`+link+`"`) {
			t.Errorf("%q lacks the greeting or the referral link:\n%s", msg.Subject, msg.Text)
		}
		unsub := msg.Header.Get("List-Unsubscribe")
		if !strings.HasPrefix(unsub, "<"+st.apiURL+"/u/") || msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" ||
			!strings.Contains(msg.Text, strings.Trim(unsub, "<>")) {
			t.Errorf("%q: List-Unsubscribe %q, not in the text", msg.Subject, unsub)
		}
		if msg.Header.Get("From") != `"Acme referrals" <referrals@acme.test>` {
			t.Errorf("%q: From %q", msg.Subject, msg.Header.Get("From"))
		}
	}
	if !strings.Contains(approved.Text, "Leo, the person you referred to Spring referrals, was approved") ||
		!strings.Contains(earned.Text, "you earned 50.00 USD for referring Leo") {
		t.Errorf("approved:\n%s\nreward:\n%s", approved.Text, earned.Text)
	}

	// The portal link the worker signed opens the member's portal in the
	// api.
	portal := regexp.MustCompile(regexp.QuoteMeta(st.apiURL) + `/m/[A-Za-z0-9_-]+`).FindString(welcome.Text)
	if res, err := http.Get(portal); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the welcome's portal link %q: %v %v", portal, res, err)
	}

	// Every step again: no email goes out twice.
	rewards, err := st.d.Queries.RewardListByReferral(ctx, st.fx.Referral.ID)
	if err != nil || len(rewards) != 1 {
		t.Fatalf("rewards %+v %v", rewards, err)
	}
	events := []struct {
		kind    email.Kind
		subject uuid.UUID
	}{{email.Welcome, m.ID}, {email.ReferralApproved, st.fx.Referral.ID}, {email.RewardEarned, rewards[0].ID}}
	for _, ev := range events {
		row := st.waitSettled(ctx, t, ev.kind, ev.subject)
		if row.Status != string(email.Sent) || row.Attempts != 1 || row.SentAt == nil {
			t.Fatalf("%s email: %s after %d attempts", ev.kind, row.Status, row.Attempts)
		}
		res, err := st.acts.SendMemberEmail(ctx, row.ID.String())
		if err != nil || res.Status != email.Sent {
			t.Fatalf("%s sent again: %+v %v", ev.kind, res, err)
		}
		q, err := st.acts.QueueMemberEmail(ctx, activities.QueueEmailInput{Kind: ev.kind, SubjectID: ev.subject.String(), Actor: "system"})
		if err != nil || q.Queued || q.Status != email.Sent {
			t.Fatalf("%s queued again: %+v %v", ev.kind, q, err)
		}
		if err := workflows.StartMemberEmailWorkflow(ctx, st.tc.Client, st.tc.TaskQueue, workflows.MemberEmailInput{EmailID: row.ID.String(), Kind: ev.kind, SubjectID: ev.subject.String()}); err != nil {
			t.Fatalf("%s started again: %v", ev.kind, err)
		}
	}
	if res := st.invite(t, m.ID); len(res.Invited) != 0 || len(res.NotInvited) != 1 || !strings.Contains(res.NotInvited[0].Reason, "sent") {
		t.Fatalf("second invite = %+v", res)
	}

	// A second referral approved: its two emails are the only new ones.
	lead := "Ada"
	second, err := st.d.Queries.ReferralInsert(ctx, db.ReferralInsertParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: st.fx.Campaign.ID, MemberID: m.ID,
		LeadEmail: "ada@example.org", LeadEmailNormalized: "ada@example.org", LeadFirstName: &lead, Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	st.approve(ctx, t, second)
	msgs = st.waitMessages(ctx, t, 5)
	count := map[string]int{}
	ids := map[string]bool{}
	for _, msg := range msgs {
		count[msg.Subject]++
		ids[msg.Header.Get("Message-ID")] = true
	}
	if len(msgs) != 5 || count["Your referral link for Spring referrals"] != 1 || count["Your referral was approved"] != 2 ||
		count["You earned a reward: 50.00 USD"] != 2 || len(ids) != 5 {
		t.Fatalf("caught %d messages: %v (%d Message-IDs)", len(msgs), count, len(ids))
	}
	// The catcher has a message as soon as the server accepts it; the row
	// is marked sent right after.
	for {
		var list api.EmailList
		if code := st.call(t, "GET", "/api/v1/campaigns/"+st.fx.Campaign.ID.String()+"/emails", "", &list); code != http.StatusOK || len(list.Emails) != 5 {
			t.Fatalf("emails list = %d %+v", code, list)
		}
		sent := 0
		for _, e := range list.Emails {
			if e.Attempts != 1 || (e.Status != string(email.Sent) && e.Status != string(email.Sending)) {
				t.Fatalf("listed %+v", e)
			}
			if e.Status == string(email.Sent) {
				sent++
			}
		}
		if sent == len(list.Emails) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("emails never all marked sent: %+v", list.Emails)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestEmailWaitsOutAnSMTPOutage: with the SMTP server down, the emails of an
// approval wait — the referral is approved and rewarded all the same — and
// say why; once the server is back they go out, each exactly once.
func TestEmailWaitsOutAnSMTPOutage(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newEmailStack(t)
	st.mail.Down()

	st.approve(ctx, t, st.fx.Referral)
	// The referral goes on: approved, its reward issued.
	waitForState(ctx, t, st.tc.Client, workflows.ReferralWorkflowID(st.fx.Referral.ID.String()), func(s workflows.ReferralState) bool {
		return s.Status == referral.Approved && len(s.Rewards) == 1 && s.Rewards[0].Status == "issued"
	})
	rewards, err := st.d.Queries.RewardListByReferral(ctx, st.fx.Referral.ID)
	if err != nil || len(rewards) != 1 {
		t.Fatalf("rewards %+v %v", rewards, err)
	}
	// Both emails' quick attempts fail; then each waits on its durable
	// timer, its row saying why and when it tries again.
	waiting := func(kind email.Kind, subject uuid.UUID) db.Email {
		for {
			row := st.emailOf(ctx, t, kind, subject)
			if row.NextAttemptAt != nil {
				return row
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the %s email never waited: %+v", kind, row)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	for _, ev := range []struct {
		kind    email.Kind
		subject uuid.UUID
	}{{email.ReferralApproved, st.fx.Referral.ID}, {email.RewardEarned, rewards[0].ID}} {
		row := waiting(ev.kind, ev.subject)
		if row.Status != string(email.Pending) || row.Attempts != 5 || row.Reason == nil || !strings.Contains(*row.Reason, "cannot reach the SMTP server") {
			t.Fatalf("%s email while the server is down: %s, %d attempts, %v", ev.kind, row.Status, row.Attempts, deref(row.Reason))
		}
		if d := time.Until(*row.NextAttemptAt); d < 30*time.Second || d > 2*time.Minute {
			t.Fatalf("%s email's next attempt in %v, want about a minute", ev.kind, d)
		}
	}
	if len(st.mail.Messages()) != 0 {
		t.Fatal("caught a message while down")
	}

	// The server is back; an operator (or the timer, a minute later) asks
	// the waiting emails to try again.
	if err := st.mail.Up(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{
		workflows.MemberEmailWorkflowID(email.ReferralApproved, st.fx.Referral.ID.String()),
		workflows.MemberEmailWorkflowID(email.RewardEarned, rewards[0].ID.String()),
	} {
		if err := st.tc.Client.SignalWorkflow(ctx, id, "", workflows.SignalRetryWaiting, workflows.RetryRequest{Cause: "SMTP back"}); err != nil {
			t.Fatal(err)
		}
	}
	msgs := st.waitMessages(ctx, t, 2)
	for _, id := range []string{
		workflows.MemberEmailWorkflowID(email.ReferralApproved, st.fx.Referral.ID.String()),
		workflows.MemberEmailWorkflowID(email.RewardEarned, rewards[0].ID.String()),
	} {
		var state workflows.MemberEmailState
		if err := st.tc.Client.GetWorkflow(ctx, id, "").Get(ctx, &state); err != nil || state.Status != email.Sent {
			t.Fatalf("%s: %+v %v", id, state, err)
		}
	}
	if msgs = st.mail.Messages(); len(msgs) != 2 || msgs[0].Subject == msgs[1].Subject {
		t.Fatalf("caught %q", subjects(msgs))
	}
	row := st.emailOf(ctx, t, email.ReferralApproved, st.fx.Referral.ID)
	if row.Status != string(email.Sent) || row.Attempts != 6 {
		t.Fatalf("approved email: %s after %d attempts", row.Status, row.Attempts)
	}
}

// TestUnsubscribeStopsEmails: the link in an email unsubscribes the member
// (the page's form, with its CSRF token; a mail client's one-click post);
// from then on no email is queued for them, and one already queued is
// skipped, not sent.
func TestUnsubscribeStopsEmails(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := newEmailStack(t)
	m := st.fx.Member

	// An email queued before the member unsubscribes.
	queued, err := st.acts.QueueMemberEmail(ctx, activities.QueueEmailInput{Kind: email.ReferralApproved, SubjectID: st.fx.Referral.ID.String(), Actor: "system"})
	if err != nil || !queued.Queued {
		t.Fatalf("queue = %+v %v", queued, err)
	}

	link := st.acts.EmailLinks.Unsubscribe.URL(st.apiURL, m.ID)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	res, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "Unsubscribe from Spring referrals") || !strings.Contains(string(page), `<button type="submit">Unsubscribe</button>`) {
		t.Fatalf("page = %d %s", res.StatusCode, page)
	}
	if got, _ := st.d.Queries.MemberGetByID(ctx, m.ID); got.EmailUnsubscribedAt != nil {
		t.Fatal("opening the page unsubscribed the member")
	}
	// A post without the page's token is refused.
	if res, err := http.PostForm(link, url.Values{}); err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("post without a token = %v %v", res, err)
	}
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(string(page))
	if csrf == nil {
		t.Fatalf("no CSRF token in %s", page)
	}
	res, err = browser.PostForm(link, url.Values{api.CSRFField: {csrf[1]}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "You are unsubscribed") {
		t.Fatalf("unsubscribe = %d %s", res.StatusCode, page)
	}
	if got, _ := st.d.Queries.MemberGetByID(ctx, m.ID); got.EmailUnsubscribedAt == nil {
		t.Fatal("the member is still subscribed")
	}

	// Nothing more is queued for them, and what was queued is skipped.
	if q, err := st.acts.QueueMemberEmail(ctx, activities.QueueEmailInput{Kind: email.Welcome, SubjectID: m.ID.String(), Invite: true, Actor: "admin:test"}); err != nil || q.Queued || !strings.Contains(q.Reason, "unsubscribed") {
		t.Fatalf("queue after unsubscribing = %+v %v", q, err)
	}
	if res := st.invite(t, m.ID); len(res.Invited) != 0 || !strings.Contains(res.NotInvited[0].Reason, "unsubscribed") {
		t.Fatalf("invite after unsubscribing = %+v", res)
	}
	sent, err := st.acts.SendMemberEmail(ctx, queued.EmailID)
	if err != nil || sent.Status != email.Skipped || !strings.Contains(sent.Reason, "unsubscribed") {
		t.Fatalf("send after unsubscribing = %+v %v", sent, err)
	}

	// A mail client's one-click unsubscribe (RFC 8058) for another member:
	// no page, no token but the link's.
	other, err := st.d.Queries.MemberCreate(ctx, db.MemberCreateParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: st.fx.Campaign.ID, ReferralCode: "OTHER-1", Email: "other@example.com", Source: "sync",
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err = http.PostForm(st.acts.EmailLinks.Unsubscribe.URL(st.apiURL, other.ID), url.Values{"List-Unsubscribe": {"One-Click"}})
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("one-click = %v %v", res, err)
	}
	if got, _ := st.d.Queries.MemberGetByID(ctx, other.ID); got.EmailUnsubscribedAt == nil {
		t.Fatal("one-click did not unsubscribe")
	}
	// A link that is not one referflow signed opens nothing.
	if res, err := http.Get(st.apiURL + "/u/" + strings.Repeat("A", 44)); err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("forged link = %v %v", res, err)
	}
	if n := len(st.mail.Messages()); n != 0 {
		t.Fatalf("caught %d messages", n)
	}
}

// TestEmailTemplatesPerCampaign: a campaign's own template is used for its
// emails (parts it leaves empty keep the default's), a synced member gets
// no welcome unless invited, and a template that cannot render is refused
// on save, saying where and why.
func TestEmailTemplatesPerCampaign(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := newEmailStack(t)
	path := "/api/v1/campaigns/" + st.fx.Campaign.ID.String() + "/settings"

	var body api.ErrorBody
	refused := &body.Error
	bad := `{"emails":{"welcome":{"subject":"Hello {{.Frist}}","html":"<p>{{.FirstName</p>"},"reward_earned":{"text":"You earned {{.Reward.Amount}}"}}}`
	if code := st.call(t, "PUT", path, bad, &body); code != http.StatusUnprocessableEntity ||
		!strings.Contains(refused.Fields["settings.emails.welcome.subject"], "can't evaluate field Frist") ||
		!strings.Contains(refused.Fields["settings.emails.welcome.subject"], ".FirstName") ||
		!strings.Contains(refused.Fields["settings.emails.welcome.html"], "bad character") ||
		!strings.Contains(refused.Fields["settings.emails.reward_earned.text"], "{{.UnsubscribeLink}}") {
		t.Fatalf("bad templates = %d %+v", code, refused)
	}

	// A contact HubSpot enrolled (process_rules.enrol_members) did not ask
	// to join either: no welcome on its own, the welcome being on.
	enrolled, err := st.d.Queries.MemberCreate(ctx, db.MemberCreateParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: st.fx.Campaign.ID, ReferralCode: "HUB-1", Email: "hub@example.com", Source: string(referral.MemberSourceHubSpot),
	})
	if err != nil {
		t.Fatal(err)
	}
	if q, err := st.acts.QueueMemberEmail(ctx, activities.QueueEmailInput{Kind: email.Welcome, SubjectID: enrolled.ID.String(), Actor: "system"}); err != nil || q.Queued ||
		!strings.Contains(q.Reason, "brought in from HubSpot") {
		t.Fatalf("enrolled member's welcome = %+v %v", q, err)
	}

	good := `{"rewards":{"on_status":"approved","member":{"kind":"fixed","amount":"50","currency":"USD"}},
		"emails":{"welcome":{"enabled":false,"subject":"{{.FirstName}}, your link to {{.CampaignName}}",
		"text":"Share {{.ReferralLink}} now. Stop: {{.UnsubscribeLink}}"}}}`
	var view api.CampaignView
	if code := st.call(t, "PUT", path, good, &view); code != http.StatusOK || view.Settings.Emails.Welcome.Enabled || !view.Settings.Emails.RewardEarned.Enabled {
		t.Fatalf("good templates = %d %+v", code, view.Settings.Emails)
	}

	// A member a contact sync added: no welcome on its own (and the welcome
	// is off besides), but an admin's invite sends it, custom.
	synced, err := st.d.Queries.MemberCreate(ctx, db.MemberCreateParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: st.fx.Campaign.ID, ReferralCode: "SYNC-1", Email: "sam@example.com", Source: "sync",
	})
	if err != nil {
		t.Fatal(err)
	}
	if q, err := st.acts.QueueMemberEmail(ctx, activities.QueueEmailInput{Kind: email.Welcome, SubjectID: synced.ID.String(), Actor: "system"}); err != nil || q.Queued {
		t.Fatalf("synced member's welcome = %+v %v", q, err)
	}
	if res := st.invite(t, synced.ID); len(res.Invited) != 1 {
		t.Fatalf("invite = %+v", res)
	}
	msg := st.waitMessages(ctx, t, 1)[0]
	if msg.Subject != ", your link to Spring referrals" || !strings.HasPrefix(msg.Text, "Share "+st.apiURL+"/r/SYNC-1 now. Stop: "+st.apiURL+"/u/") ||
		!strings.Contains(msg.HTML, "Welcome to Spring referrals") {
		t.Fatalf("custom welcome: %q\n%s\n%s", msg.Subject, msg.Text, msg.HTML)
	}
}

// TestEmailCrashWindow: an attempt that died before DATA sent nothing and
// its email is sent by the next attempt; one that died after DATA may have
// delivered it, so its email is marked unknown and never sent again (at
// most once, docs/architecture.md "Emails to members").
func TestEmailCrashWindow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := newEmailStack(t)
	queue := func(kind email.Kind, subject uuid.UUID) string {
		q, err := st.acts.QueueMemberEmail(ctx, activities.QueueEmailInput{Kind: kind, SubjectID: subject.String(), Invite: true, Actor: "admin:test"})
		if err != nil || !q.Queued {
			t.Fatalf("queue %s = %+v %v", kind, q, err)
		}
		return q.EmailID
	}
	beforeData := queue(email.Welcome, st.fx.Member.ID)
	afterData := queue(email.ReferralApproved, st.fx.Referral.ID)
	// Both attempts died holding their email; their leases are over.
	if _, err := st.d.Pool.Exec(ctx, `UPDATE emails SET status = 'sending', attempts = 1, locked_until = now() - interval '1 second',
		data_started_at = CASE WHEN id = $2 THEN now() - interval '2 minutes' END WHERE id IN ($1, $2)`, beforeData, afterData); err != nil {
		t.Fatal(err)
	}
	res, err := st.acts.SendMemberEmail(ctx, beforeData)
	if err != nil || res.Status != email.Sent {
		t.Fatalf("email whose attempt died before DATA: %+v %v", res, err)
	}
	res, err = st.acts.SendMemberEmail(ctx, afterData)
	if err != nil || res.Status != email.Unknown || !strings.Contains(res.Reason, "may have been delivered") {
		t.Fatalf("email whose attempt died after DATA: %+v %v", res, err)
	}
	if res, err = st.acts.SendMemberEmail(ctx, afterData); err != nil || res.Status != email.Unknown {
		t.Fatalf("again: %+v %v", res, err)
	}
	if msgs := st.mail.Messages(); len(msgs) != 1 || msgs[0].Subject != "Your referral link for Spring referrals" {
		t.Fatalf("caught %q", subjects(msgs))
	}
	// A live lease is another attempt's: no send beside it, a retryable
	// error instead.
	other, err := st.d.Queries.MemberCreate(ctx, db.MemberCreateParams{
		WorkspaceID: st.fx.Workspace.ID, CampaignID: st.fx.Campaign.ID, ReferralCode: "LIVE-1", Email: "live@example.com", Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	live := queue(email.Welcome, other.ID)
	if _, err := st.d.Pool.Exec(ctx, `UPDATE emails SET status = 'sending', attempts = 1, locked_until = now() + interval '1 minute' WHERE id = $1`, live); err != nil {
		t.Fatal(err)
	}
	if res, err := st.acts.SendMemberEmail(ctx, live); err == nil || !strings.Contains(err.Error(), "another attempt") {
		t.Fatalf("email held by a live attempt: %+v %v", res, err)
	}
	if n := len(st.mail.Messages()); n != 1 {
		t.Fatalf("caught %d messages", n)
	}
}

// TestWelcomeOnJoin: a member added through the admin API gets the welcome
// email from their member workflow, once; with the campaign's welcome off,
// a member who joins gets none.
func TestWelcomeOnJoin(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := newEmailStack(t)
	campaignPath := "/api/v1/campaigns/" + st.fx.Campaign.ID.String()
	join := func(email, first string) api.MemberView {
		var m api.MemberView
		if code := st.call(t, "POST", campaignPath+"/members", `{"email":"`+email+`","first_name":"`+first+`"}`, &m); code != http.StatusCreated {
			t.Fatalf("add member = %d %+v", code, m)
		}
		return m
	}
	setWelcome := func(on bool) {
		body := `{"rewards":{"on_status":"approved","member":{"kind":"fixed","amount":"50","currency":"USD"}},"emails":{"welcome":{"enabled":` + map[bool]string{true: "true", false: "false"}[on] + `}}}`
		if code := st.call(t, "PUT", campaignPath+"/settings", body, nil); code != http.StatusOK {
			t.Fatalf("settings = %d", code)
		}
	}

	nia := join("nia@example.com", "Nia")
	msg := st.waitMessages(ctx, t, 1)[0]
	if msg.Subject != "Your referral link for Spring referrals" || msg.To[0] != "nia@example.com" ||
		!strings.Contains(msg.Text, "Hi Nia,") || !strings.Contains(msg.Text, nia.ReferralLink) || !strings.Contains(msg.Text, st.apiURL+"/m/") {
		t.Fatalf("welcome: %q to %v\n%s", msg.Subject, msg.To, msg.Text)
	}
	niaID := uuid.MustParse(nia.ID)
	if row := st.waitSettled(ctx, t, email.Welcome, niaID); row.Status != string(email.Sent) || row.Actor != "system" {
		t.Fatalf("welcome row %+v", row)
	}
	// Her workflow runs to its end; starting it again sends nothing.
	var state workflows.MemberState
	if err := st.tc.Client.GetWorkflow(ctx, workflows.MemberWorkflowID(nia.ID), "").Get(ctx, &state); err != nil || !state.Done {
		t.Fatalf("member workflow: %+v %v", state, err)
	}

	setWelcome(false)
	off := join("omar@example.com", "Omar")
	if err := st.tc.Client.GetWorkflow(ctx, workflows.MemberWorkflowID(off.ID), "").Get(ctx, &state); err != nil || !state.Done {
		t.Fatalf("member workflow with the welcome off: %+v %v", state, err)
	}
	if _, err := st.d.Queries.EmailGetByKey(ctx, db.EmailGetByKeyParams{Kind: string(email.Welcome), SubjectID: uuid.MustParse(off.ID)}); err == nil {
		t.Fatal("a welcome was queued with the welcome off")
	}
	setWelcome(true)
	join("pia@example.com", "Pia")
	msgs := st.waitMessages(ctx, t, 2)
	if len(msgs) != 2 || msgs[1].To[0] != "pia@example.com" {
		t.Fatalf("caught %d: %v", len(msgs), subjects(msgs))
	}
}
