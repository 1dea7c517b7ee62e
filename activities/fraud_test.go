package activities_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
)

func addReferral(t *testing.T, d *testenv.Database, fx testenv.ReferralFixture, email string) db.Referral {
	t.Helper()
	return addReferralOf(t, d, fx, fx.Member, email, nil)
}

// addReferralOf adds a referral of member, sent by visitor (nil: not
// through a public page).
func addReferralOf(t *testing.T, d *testenv.Database, fx testenv.ReferralFixture, m db.Member, email string, visitor []byte) db.Referral {
	t.Helper()
	r, err := d.Queries.ReferralInsert(context.Background(), db.ReferralInsertParams{
		WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, MemberID: m.ID,
		LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email), Source: "api", VisitorHash: visitor,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func addMember(t *testing.T, d *testenv.Database, fx testenv.ReferralFixture, email string) db.Member {
	t.Helper()
	m, err := d.Queries.MemberCreate(context.Background(), db.MemberCreateParams{
		WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID,
		ReferralCode: "M-" + strings.NewReplacer("@", "-", ".", "-").Replace(email), Email: email, Source: "admin",
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// age moves a referral's creation into the past.
func age(t *testing.T, d *testenv.Database, r db.Referral, by time.Duration) {
	t.Helper()
	if _, err := d.Pool.Exec(context.Background(), `UPDATE referrals SET created_at = created_at - $2::interval WHERE id = $1`, r.ID, fmt.Sprintf("%d seconds", int(by.Seconds()))); err != nil {
		t.Fatal(err)
	}
}

func visitor(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// fraudWorld is a campaign with fraud settings set by change (on top of the
// defaults), its member maya@example.com and her referral of
// leo@example.org.
func fraudWorld(t *testing.T, change func(*campaign.FraudChecks)) (*testenv.Database, testenv.ReferralFixture, *activities.Activities) {
	t.Helper()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	s := campaign.Defaults()
	if change != nil {
		change(&s.FraudChecks)
	}
	d.SetCampaignSettings(t, fx.Campaign, s)
	return d, fx, activities.New(d.Pool)
}

func check(t *testing.T, a *activities.Activities, r db.Referral) activities.FraudVerdict {
	t.Helper()
	v, err := a.CheckReferralFraud(context.Background(), r.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantSignal asserts the verdict's action and that reason fired (with an
// explanation containing detail), alone.
func wantSignal(t *testing.T, v activities.FraudVerdict, reason referral.FraudReason, action campaign.FraudAction, detail string) {
	t.Helper()
	if v.Action != action || v.Deny != (action == campaign.FraudDeny) || len(v.Signals) != 1 {
		t.Fatalf("want one %s signal with action %s; got %+v", reason, action, v)
	}
	s := v.Signals[0]
	if s.Reason != reason || s.Action != action || !strings.Contains(s.Detail, detail) {
		t.Fatalf("want %s (%s) explaining %q; got %+v", reason, action, detail, s)
	}
	if !strings.HasPrefix(v.Reason, string(reason)+": ") {
		t.Fatalf("the verdict's reason should name %s first: %q", reason, v.Reason)
	}
}

func wantClean(t *testing.T, v activities.FraudVerdict, what string) {
	t.Helper()
	if v.Action != "" || v.Deny || len(v.Signals) != 0 || v.Reason != "" {
		t.Fatalf("%s: no signal expected; got %+v", what, v)
	}
}

// Each action of each check: deny and review; off means the check does not
// run.
var fraudActions = []campaign.FraudAction{campaign.FraudDeny, campaign.FraudReview}

func TestFraudCleanReferral(t *testing.T) {
	t.Parallel()
	_, fx, a := fraudWorld(t, nil)
	wantClean(t, check(t, a, fx.Referral), "an ordinary referral under the default checks")
}

func TestFraudSelfReferral(t *testing.T) {
	t.Parallel()
	for _, action := range append(fraudActions, campaign.FraudOff) {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			d, fx, a := fraudWorld(t, func(f *campaign.FraudChecks) { f.SelfReferral.Action = action })
			self := addReferral(t, d, fx, "Maya+friends@Example.com")
			if action == campaign.FraudOff {
				wantClean(t, check(t, a, self), "self-referral check off")
				return
			}
			wantSignal(t, check(t, a, self), referral.FraudSelfReferral, action, "the member's own")
		})
	}
}

func TestFraudDuplicateLead(t *testing.T) {
	t.Parallel()
	for _, action := range fraudActions {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			d, fx, a := fraudWorld(t, func(f *campaign.FraudChecks) { f.DuplicateLead.Action = action })
			first := addReferral(t, d, fx, "j.doe@gmail.com")
			again := addReferral(t, d, fx, "jdoe+promo@googlemail.com")
			wantClean(t, check(t, a, first), "the first referral of a lead")
			wantSignal(t, check(t, a, again), referral.FraudDuplicateLead, action, first.ID.String())
		})
	}
}

func TestFraudDisposableEmail(t *testing.T) {
	t.Parallel()
	for _, action := range fraudActions {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			d, fx, a := fraudWorld(t, func(f *campaign.FraudChecks) { f.DisposableEmail.Action = action })
			wantSignal(t, check(t, a, addReferral(t, d, fx, "lead@mailinator.com")), referral.FraudDisposableEmail, action, "mailinator.com")
			// A subdomain of a listed domain is disposable too.
			wantSignal(t, check(t, a, addReferral(t, d, fx, "lead@Box.Mailinator.com")), referral.FraudDisposableEmail, action, "box.mailinator.com is a disposable mailbox provider's (mailinator.com)")
			wantClean(t, check(t, a, addReferral(t, d, fx, "lead@acme-mailinator.io")), "a domain that only looks like a listed one")
		})
	}
	t.Run("default review", func(t *testing.T) {
		t.Parallel()
		d, fx, a := fraudWorld(t, nil)
		wantSignal(t, check(t, a, addReferral(t, d, fx, "x@guerrillamail.com")), referral.FraudDisposableEmail, campaign.FraudReview, "guerrillamail.com")
	})
}

func TestFraudVisitorVelocity(t *testing.T) {
	t.Parallel()
	for _, action := range fraudActions {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			d, fx, a := fraudWorld(t, func(f *campaign.FraudChecks) {
				f.VisitorVelocity = campaign.VelocityCheck{Action: action, MaxReferrals: 3, WindowMinutes: 60}
				f.SharedVisitor.Action = campaign.FraudOff
				f.MemberVelocity.Action = campaign.FraudOff
			})
			// Two from the same visitor two hours ago: outside the window.
			for i := range 2 {
				age(t, d, addReferralOf(t, d, fx, fx.Member, fmt.Sprintf("old%d@example.net", i), visitor(1)), 2*time.Hour)
			}
			var recent []db.Referral
			for i := range 4 {
				recent = append(recent, addReferralOf(t, d, fx, fx.Member, fmt.Sprintf("lead%d@example.net", i), visitor(1)))
			}
			for _, r := range recent[:3] {
				wantClean(t, check(t, a, r), "up to 3 referrals of a visitor in an hour")
			}
			wantSignal(t, check(t, a, recent[3]), referral.FraudVisitorVelocity, action, "sent 4 referrals to the campaign in 1 hour (more than 3)")
			// Another visitor, and a referral sent by no visitor (admin API).
			wantClean(t, check(t, a, addReferralOf(t, d, fx, fx.Member, "other@example.net", visitor(2))), "another visitor")
			wantClean(t, check(t, a, addReferral(t, d, fx, "admin@example.net")), "a referral without a visitor")
		})
	}
}

func TestFraudMemberVelocity(t *testing.T) {
	t.Parallel()
	for _, action := range fraudActions {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			d, fx, a := fraudWorld(t, func(f *campaign.FraudChecks) {
				f.MemberVelocity = campaign.VelocityCheck{Action: action, MaxReferrals: 3, WindowMinutes: 24 * 60}
				f.SharedVisitor.Action = campaign.FraudOff
			})
			// Each from its own visitor, so only the member is counted. One
			// from two days ago, and referrals added by an admin (the
			// seeded one, another), do not count.
			age(t, d, addReferralOf(t, d, fx, fx.Member, "old@example.net", visitor(9)), 48*time.Hour)
			admin := addReferral(t, d, fx, "admin@example.net")
			var public []db.Referral
			for i := range 4 {
				public = append(public, addReferralOf(t, d, fx, fx.Member, fmt.Sprintf("p%d@example.net", i), visitor(byte(10+i))))
			}
			for _, r := range public[:3] {
				wantClean(t, check(t, a, r), "up to 3 public referrals of the member in a day")
			}
			wantSignal(t, check(t, a, public[3]), referral.FraudMemberVelocity, action, "the member has 4 referrals through public pages in 1 day (more than 3)")
			wantClean(t, check(t, a, admin), "a referral an admin added")
			// Another member is counted apart.
			other := addMember(t, d, fx, "nina@example.com")
			wantClean(t, check(t, a, addReferralOf(t, d, fx, other, "e@example.net", visitor(20))), "another member's referral")
		})
	}
}

func TestFraudSharedVisitor(t *testing.T) {
	t.Parallel()
	for _, action := range fraudActions {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			d, fx, a := fraudWorld(t, func(f *campaign.FraudChecks) {
				f.SharedVisitor = campaign.SharedVisitor{Action: action, MaxMembers: 2, WindowMinutes: 7 * 24 * 60}
				f.VisitorVelocity.Action = campaign.FraudOff
			})
			members := []db.Member{fx.Member, addMember(t, d, fx, "nina@example.com"), addMember(t, d, fx, "omar@example.com")}
			// Maya twice and Nina through one device: two members.
			r1 := addReferralOf(t, d, fx, members[0], "a@example.net", visitor(7))
			r2 := addReferralOf(t, d, fx, members[0], "b@example.net", visitor(7))
			r3 := addReferralOf(t, d, fx, members[1], "c@example.net", visitor(7))
			for _, r := range []db.Referral{r1, r2, r3} {
				wantClean(t, check(t, a, r), "one device, two members")
			}
			r4 := addReferralOf(t, d, fx, members[2], "d@example.net", visitor(7))
			wantSignal(t, check(t, a, r4), referral.FraudSharedVisitor, action, "referrals for 3 members of the campaign in 7 days (more than 2)")
			// The same members from different devices are fine.
			wantClean(t, check(t, a, addReferralOf(t, d, fx, members[2], "e@example.net", visitor(8))), "another device")
		})
	}
}

func TestFraudCompanyDomain(t *testing.T) {
	t.Parallel()
	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		d, fx, a := fraudWorld(t, nil)
		wantClean(t, check(t, a, addReferral(t, d, fx, "colleague@example.com")), "the member's company, check off")
	})
	for _, action := range fraudActions {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			d, fx, a := fraudWorld(t, func(f *campaign.FraudChecks) { f.CompanyDomain.Action = action })
			wantSignal(t, check(t, a, addReferral(t, d, fx, "Colleague@Example.COM")), referral.FraudCompanyDomain, action, "example.com is the member's")
			wantClean(t, check(t, a, addReferral(t, d, fx, "someone@example.net")), "another company")
			// A public mailbox domain names no company.
			gmailer := addMember(t, d, fx, "sam@gmail.com")
			wantClean(t, check(t, a, addReferralOf(t, d, fx, gmailer, "pat@gmail.com", nil)), "two gmail.com addresses")
		})
	}
}

// Every signal that fired is returned; the strictest action applies.
func TestFraudEverySignalStrictestWins(t *testing.T) {
	t.Parallel()
	d, fx, a := fraudWorld(t, func(f *campaign.FraudChecks) { f.CompanyDomain.Action = campaign.FraudReview })
	m := addMember(t, d, fx, "zed@mailinator.com")
	// Disposable (review) and the member's own domain (review; mailinator.com
	// is no public mailbox provider): review, both named in order.
	v := check(t, a, addReferralOf(t, d, fx, m, "friend@mailinator.com", nil))
	if v.Action != campaign.FraudReview || v.Deny || len(v.Signals) != 2 ||
		v.Signals[0].Reason != referral.FraudDisposableEmail || v.Signals[1].Reason != referral.FraudCompanyDomain {
		t.Fatalf("disposable and company domain, both review: %+v", v)
	}
	// Self-referral (deny) with a disposable address (review): deny, both named.
	v = check(t, a, addReferralOf(t, d, fx, m, "Zed+x@mailinator.com", nil))
	if !v.Deny || v.Action != campaign.FraudDeny || len(v.Signals) < 2 ||
		v.Signals[0].Reason != referral.FraudSelfReferral || v.Signals[1].Reason != referral.FraudDisposableEmail ||
		!strings.Contains(v.Reason, "self_referral: ") || !strings.Contains(v.Reason, "; disposable_email: ") {
		t.Fatalf("self-referral and disposable: deny naming both; got %+v", v)
	}
}

// linkMemberContact gives the fixture's member a HubSpot contact (by ID
// only: the database checks do not call HubSpot).
func linkMemberContact(t *testing.T, d *testenv.Database, m db.Member, id int64) {
	t.Helper()
	if _, err := d.Queries.MemberSetHubSpotContact(context.Background(), db.MemberSetHubSpotContactParams{ID: m.ID, HubspotContactID: &id}); err != nil {
		t.Fatal(err)
	}
}

// The same_hubspot_company check reads HubSpot, so the database checks only
// say whether it runs: when it is on (review by default, or deny) and the
// member has a HubSpot contact. It adds no signal of its own there.
func TestFraudSameHubSpotCompanyAsksTheWorkflow(t *testing.T) {
	t.Parallel()
	for _, action := range append(fraudActions, campaign.FraudOff) {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			d, fx, a := fraudWorld(t, func(f *campaign.FraudChecks) { f.SameHubSpotCompany.Action = action })
			if v := check(t, a, fx.Referral); v.SameHubSpotCompany != "" {
				t.Fatalf("a member without a HubSpot contact: %+v", v)
			}
			linkMemberContact(t, d, fx.Member, 4242)
			v := check(t, a, fx.Referral)
			want := action
			if action == campaign.FraudOff {
				want = ""
			}
			if v.SameHubSpotCompany != want || len(v.Signals) != 0 {
				t.Fatalf("member with a contact, check %s: %+v", action, v)
			}
		})
	}
	t.Run("default review", func(t *testing.T) {
		t.Parallel()
		d, fx, a := fraudWorld(t, nil)
		linkMemberContact(t, d, fx.Member, 4242)
		if v := check(t, a, fx.Referral); v.SameHubSpotCompany != campaign.FraudReview {
			t.Fatalf("default: %+v", v)
		}
	})
}

// CheckSameHubSpotCompany, against a simulated portal: it fires when the
// lead's contact (found by email, or the referral's own) and the member's
// share a company, naming the three by ID; different companies, none, or a
// lead HubSpot does not know yet do not fire. Add turns its signal into the
// verdict's action and reason.
func TestFraudSameHubSpotCompany(t *testing.T) {
	t.Parallel()
	w := newLeadWorld(t)
	ctx := context.Background()
	sim, portal := w.sim, w.portal
	must := func(id string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	acme := must(sim.CreateObject(portal, "companies", map[string]string{"name": "Acme", "domain": "acme.test"}))
	other := must(sim.CreateObject(portal, "companies", map[string]string{"name": "Globex", "domain": "globex.test"}))
	member := must(sim.CreateObject(portal, "contacts", map[string]string{"email": w.fx.Member.Email}))
	memberID, _ := strconv.ParseInt(member, 10, 64)
	linkMemberContact(t, w.db, w.fx.Member, memberID)
	run := func() activities.SameCompanyResult {
		t.Helper()
		res, err := w.acts.CheckSameHubSpotCompany(ctx, w.fx.Referral.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := run(); res.Fired || !strings.Contains(res.Skipped, "no contact for the lead") {
		t.Fatalf("a lead HubSpot does not know: %+v", res)
	}
	lead := must(sim.CreateObject(portal, "contacts", map[string]string{"email": w.fx.Referral.LeadEmail}))
	if res := run(); res.Fired || res.Skipped != "" {
		t.Fatalf("no companies: %+v", res)
	}
	if err := sim.Associate(portal, "contacts", member, "companies", acme); err != nil {
		t.Fatal(err)
	}
	if err := sim.Associate(portal, "contacts", lead, "companies", other); err != nil {
		t.Fatal(err)
	}
	if res := run(); res.Fired {
		t.Fatalf("different companies: %+v", res)
	}
	if err := sim.Associate(portal, "contacts", lead, "companies", acme); err != nil {
		t.Fatal(err)
	}
	res := run()
	if !res.Fired || res.Detail != "the lead's HubSpot contact "+lead+" and the member's contact "+member+" are both associated with HubSpot company "+acme {
		t.Fatalf("same company: %+v", res)
	}
	var v activities.FraudVerdict
	v.Add(activities.FraudSignal{Reason: referral.FraudSameHubSpotCompany, Detail: res.Detail, Action: campaign.FraudReview})
	wantSignal(t, v, referral.FraudSameHubSpotCompany, campaign.FraudReview, "company "+acme)
}
