package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/review"
	"github.com/referflow/referflow/internal/salesentry"
)

// Matching a sales entry about a HubSpot object referflow does not know:
// ReadSalesEntryObject reads the object (HubSpot task queue), then
// MatchSalesEntry (database) looks, in this order, for
//
//  1. a direct match: the object's referflow_referral_id is a referral of
//     the workspace, a campaign's external ID property holds a referral's
//     external ID, or (a deal or company) an associated contact is a
//     referral's contact or carries such a property;
//  2. a fuzzy match: the normalised email is a referral's lead email in the
//     workspace; else the first and last name with the company domain;
//  3. a matching rule: an active campaign's rule property (on the object's
//     type) holds a referral code, member email, member external ID or
//     member ID of one of its members — a referral is to be added from
//     HubSpot.
//
// It decides nothing: the workflow applies the campaign's process rules to
// what it finds.

func normalizeDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimPrefix(strings.TrimPrefix(d, "https://"), "http://")
	d = strings.TrimPrefix(d, "www.")
	if i := strings.IndexAny(d, "/?#"); i >= 0 {
		d = d[:i]
	}
	return d
}

// freeMailDomains are not a company's domain: a name match "at gmail.com"
// says nothing about the person.
var freeMailDomains = []string{
	"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
	"icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de", "web.de",
}

// MatchInput is what MatchSalesEntry matches: the object as read, and the
// admin's edited data that overrides it.
type MatchInput struct {
	SalesEntryID int64
	WorkspaceID  string
	Object       MatchObject
	// Edited is an admin's data (review.EditKeys): email, names and domain replace
	// the object's; member keys name the member directly.
	Edited map[string]string `json:",omitempty" personal:""`
	// Property and Value are the entry's property change, if any: a change
	// a status rule would act on makes an unmatched entry look like a
	// referral.
	Property string `json:",omitempty"`
	Value    string `json:",omitempty" personal:""`
}

// MarshalJSON seals the admin's edits and the changed value under the
// person's key in Temporal's histories (internal/personaldata).
func (in MatchInput) MarshalJSON() ([]byte, error) {
	type plain MatchInput
	person := in.Edited[review.EditEmail]
	if person == "" {
		person = in.Object.Person()
	}
	return personaldata.MarshalFields(plain(in), person)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (in *MatchInput) UnmarshalJSON(b []byte) error {
	type plain MatchInput
	_, err := personaldata.UnmarshalFields(b, (*plain)(in))
	return err
}

// MatchCandidate is one referral (or member) the entry may belong to.
type MatchCandidate struct {
	ReferralID string `json:",omitempty"`
	MemberID   string `json:",omitempty"`
	CampaignID string
	// How says how it was found, e.g. "referflow_referral_id",
	// "email", "matching rule contact.referred_by holds referral_code".
	How string
}

// CampaignRules are the process-rule switches of a campaign a candidate
// belongs to.
type CampaignRules struct {
	AutoProcessDirectMatches  bool
	AutoProcessFuzzyMatches   bool
	ReviewWhenNoMemberMatches bool
	NotifyOnReview            bool
}

// NoMatchHint says why an entry nothing matched looks like a referral, for a
// campaign: a matching-rule property held a value that resolves to no
// member, or the change is one of the campaign's status rules.
type NoMatchHint struct {
	CampaignID string
	Why        string
}

// MatchResult is what matching found. Candidates are referrals (direct,
// fuzzy) or members (member); several mean the match is ambiguous.
type MatchResult struct {
	Kind       salesentry.MatchKind
	Candidates []MatchCandidate `json:",omitempty"`
	// Rules are the process rules of every campaign a candidate or a hint
	// names, by campaign ID.
	Rules map[string]CampaignRules `json:",omitempty"`
	// Hints are set when nothing matched.
	Hints []NoMatchHint `json:",omitempty"`
	// Lead is the person as the object (or the edit) gives it: what a
	// referral added from HubSpot is created with.
	Lead Lead `personal:""`
	// Seen is what matching looked at, for the review entry and the
	// entry's actions.
	Seen map[string]string `json:",omitempty" personal:""`
}

// MarshalJSON seals the lead and what matching saw under the lead's key in
// Temporal's histories (internal/personaldata).
func (r MatchResult) MarshalJSON() ([]byte, error) {
	type plain MatchResult
	return personaldata.MarshalFields(plain(r), r.Lead.Email)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *MatchResult) UnmarshalJSON(b []byte) error {
	type plain MatchResult
	_, err := personaldata.UnmarshalFields(b, (*plain)(r))
	return err
}

// MatchSalesEntry matches an object (see the order above). It reads only
// Postgres.
func (a *Activities) MatchSalesEntry(ctx context.Context, in MatchInput) (MatchResult, error) {
	ws, err := parseWorkspaceID(in.WorkspaceID)
	if err != nil {
		return MatchResult{}, err
	}
	camps, err := a.activeCampaigns(ctx, ws)
	if err != nil {
		return MatchResult{}, err
	}
	m := &matcher{a: a, ws: ws, in: in, camps: camps, res: MatchResult{Kind: salesentry.MatchNone, Rules: map[string]CampaignRules{}, Seen: map[string]string{}}}
	m.lead()
	for _, step := range []func(context.Context) (salesentry.MatchKind, error){m.direct, m.fuzzy, m.members} {
		kind, err := step(ctx)
		if err != nil {
			return MatchResult{}, err
		}
		if len(m.res.Candidates) > 0 {
			m.res.Kind = kind
			break
		}
	}
	if m.res.Kind == salesentry.MatchNone {
		m.hints()
	}
	for _, c := range m.res.Candidates {
		if err := m.rules(ctx, c.CampaignID); err != nil {
			return MatchResult{}, err
		}
	}
	for _, h := range m.res.Hints {
		if err := m.rules(ctx, h.CampaignID); err != nil {
			return MatchResult{}, err
		}
	}
	return m.res, nil
}

type matcher struct {
	a     *Activities
	ws    uuid.UUID
	in    MatchInput
	camps []matchCampaign
	res   MatchResult
	// unresolved: campaigns whose matching-rule property held a value
	// naming no member.
	unresolved map[string]string
}

func (m *matcher) prop(name string) string {
	return strings.TrimSpace(m.in.Object.Properties[name])
}

// lead works out the person: the contact's own email and names, or a deal's
// or company's first associated contact with an email; the edit wins.
func (m *matcher) lead() {
	o := m.in.Object
	l := Lead{}
	if o.ObjectType == hubspotobject.Contact {
		l = Lead{Email: m.prop("email"), FirstName: m.prop("firstname"), LastName: m.prop("lastname"), Company: m.prop("company")}
	} else {
		for _, c := range o.Contacts {
			if e := strings.TrimSpace(c.Properties["email"]); e != "" {
				l = Lead{Email: e, FirstName: strings.TrimSpace(c.Properties["firstname"]), LastName: strings.TrimSpace(c.Properties["lastname"]),
					Company: strings.TrimSpace(c.Properties["company"])}
				break
			}
		}
		if o.ObjectType == hubspotobject.Company && l.Company == "" {
			l.Company = m.prop("name")
		}
	}
	for key, dst := range map[string]*string{review.EditEmail: &l.Email, review.EditFirstName: &l.FirstName, review.EditLastName: &l.LastName} {
		if v, ok := m.in.Edited[key]; ok {
			*dst = strings.TrimSpace(v)
		}
	}
	m.res.Lead = l
	m.res.Seen["object"] = fmt.Sprintf("%s %d", o.ObjectType, o.ObjectID)
	for k, v := range o.Properties {
		if v != "" {
			m.res.Seen[string(o.ObjectType)+"."+k] = v
		}
	}
	for _, c := range o.Contacts {
		m.res.Seen[fmt.Sprintf("associated contact %d", c.ID)] = c.Properties["email"]
	}
	for k, v := range m.in.Edited {
		m.res.Seen["edited "+k] = v
	}
}

// add appends a candidate unless the same referral (or member) is there.
func (m *matcher) add(c MatchCandidate) {
	if slices.ContainsFunc(m.res.Candidates, func(o MatchCandidate) bool {
		return o.ReferralID == c.ReferralID && o.MemberID == c.MemberID
	}) {
		return
	}
	m.res.Candidates = append(m.res.Candidates, c)
}

func (m *matcher) addReferrals(rows []db.Referral, how string) {
	for _, r := range rows {
		m.add(MatchCandidate{ReferralID: r.ID.String(), CampaignID: r.CampaignID.String(), How: how})
	}
}

// direct: referflow's referral ID property, a campaign's external ID
// property, and for a deal or company its associated contacts.
func (m *matcher) direct(ctx context.Context) (salesentry.MatchKind, error) {
	type source struct {
		props map[string]string
		what  string
	}
	// A referral may hold the object by now: one added or linked for an
	// earlier event about the same object (a creation and a property change
	// arrive together) after the dispatcher routed this one here.
	held, err := m.a.Queries.ReferralListByHubSpotObject(ctx, db.ReferralListByHubSpotObjectParams{
		WorkspaceID: m.ws, ObjectType: string(m.in.Object.ObjectType), ObjectID: m.in.Object.ObjectID,
	})
	if err != nil {
		return "", fmt.Errorf("look up referrals holding %s %d: %w", m.in.Object.ObjectType, m.in.Object.ObjectID, err)
	}
	m.addReferrals(held, "the referral already holds this "+string(m.in.Object.ObjectType))
	if len(m.res.Candidates) > 0 {
		return salesentry.MatchDirect, nil
	}
	sources := []source{{m.in.Object.Properties, ""}}
	if m.in.Object.ObjectType != hubspotobject.Contact {
		for _, c := range m.in.Object.Contacts {
			sources = append(sources, source{c.Properties, fmt.Sprintf("associated contact %d: ", c.ID)})
		}
	}
	for _, s := range sources {
		if v := strings.TrimSpace(s.props[hubspotobject.PropReferralID]); v != "" {
			if id, err := uuid.Parse(v); err == nil {
				r, err := m.a.Queries.ReferralGetByID(ctx, id)
				switch {
				case err == nil && r.WorkspaceID == m.ws:
					m.addReferrals([]db.Referral{r}, s.what+hubspotobject.PropReferralID)
				case err != nil && !errors.Is(err, pgx.ErrNoRows):
					return "", fmt.Errorf("look up referral %s: %w", id, err)
				}
			}
		}
		for _, c := range m.camps {
			p := c.settings.ProcessRules.ExternalIDProperty
			v := strings.TrimSpace(s.props[p])
			if p == "" || v == "" {
				continue
			}
			rows, err := m.a.Queries.ReferralFindByExternalID(ctx, db.ReferralFindByExternalIDParams{CampaignID: c.row.ID, ExternalID: &v})
			if err != nil {
				return "", fmt.Errorf("look up referrals by external ID: %w", err)
			}
			m.addReferrals(rows, s.what+"external ID property "+p)
		}
	}
	// A deal (or company) of a referred contact belongs to that referral.
	if m.in.Object.ObjectType != hubspotobject.Contact {
		for _, c := range m.in.Object.Contacts {
			rows, err := m.a.Queries.ReferralListByHubSpotObject(ctx, db.ReferralListByHubSpotObjectParams{
				WorkspaceID: m.ws, ObjectType: string(hubspotobject.Contact), ObjectID: c.ID,
			})
			if err != nil {
				return "", fmt.Errorf("look up referrals of contact %d: %w", c.ID, err)
			}
			m.addReferrals(rows, fmt.Sprintf("associated contact %d is the referral's contact", c.ID))
		}
	}
	return salesentry.MatchDirect, nil
}

// fuzzy: the email, else first and last name with the company domain.
func (m *matcher) fuzzy(ctx context.Context) (salesentry.MatchKind, error) {
	if email := referral.NormalizeEmail(m.res.Lead.Email); strings.Contains(email, "@") {
		rows, err := m.a.Queries.ReferralFindByNormalizedEmail(ctx, db.ReferralFindByNormalizedEmailParams{WorkspaceID: m.ws, LeadEmailNormalized: email})
		if err != nil {
			return "", fmt.Errorf("look up referrals by email: %w", err)
		}
		m.addReferrals(rows, "email")
		if len(m.res.Candidates) > 0 {
			return salesentry.MatchFuzzy, nil
		}
	}
	first, last := m.res.Lead.FirstName, m.res.Lead.LastName
	domains := m.domains()
	if first == "" || last == "" || len(domains) == 0 {
		return salesentry.MatchFuzzy, nil
	}
	rows, err := m.a.Queries.ReferralFindByNameAndDomain(ctx, db.ReferralFindByNameAndDomainParams{
		WorkspaceID: m.ws, FirstName: first, LastName: last, Domains: domains,
	})
	if err != nil {
		return "", fmt.Errorf("look up referrals by name and domain: %w", err)
	}
	m.addReferrals(rows, "name and company domain")
	return salesentry.MatchFuzzy, nil
}

// domains are the company domains of the person: the edited one, else the
// email's domain and the associated companies' domains, without free-mail
// domains.
func (m *matcher) domains() []string {
	var out []string
	add := func(d string) {
		d = normalizeDomain(d)
		if d != "" && !slices.Contains(freeMailDomains, d) && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	if d, ok := m.in.Edited[review.EditCompanyDomain]; ok {
		add(d)
		return out
	}
	if _, d, ok := strings.Cut(m.res.Lead.Email, "@"); ok {
		add(d)
	}
	for _, d := range m.in.Object.CompanyDomains {
		add(d)
	}
	if m.in.Object.ObjectType == hubspotobject.Company {
		add(m.prop("domain"))
	}
	return out
}

// members: an edit naming a member, else the active campaigns' matching
// rules for the object's type.
func (m *matcher) members(ctx context.Context) (salesentry.MatchKind, error) {
	m.unresolved = map[string]string{}
	edited := false
	for _, key := range []string{review.EditReferralCode, review.EditMemberEmail, review.EditMemberExternalID, review.EditMemberID} {
		v, ok := m.in.Edited[key]
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		edited = true
		for _, c := range m.camps {
			if err := m.resolve(ctx, c, key, strings.TrimSpace(v), "edited "+key); err != nil {
				return "", err
			}
		}
	}
	if edited {
		return salesentry.MatchMember, nil
	}
	for _, c := range m.camps {
		for _, r := range c.settings.ProcessRules.MatchingRules {
			if r.Object != m.in.Object.ObjectType {
				continue
			}
			v := m.prop(r.Property)
			if v == "" {
				continue
			}
			if err := m.resolve(ctx, c, r.Holds, v, fmt.Sprintf("matching rule %s.%s holds %s", r.Object, r.Property, r.Holds)); err != nil {
				return "", err
			}
		}
	}
	return salesentry.MatchMember, nil
}

// resolve finds the member of campaign c that value (of kind holds: a
// matching rule's kind, or an edit key, which share their names) names.
func (m *matcher) resolve(ctx context.Context, c matchCampaign, holds, value, how string) error {
	var (
		mem db.Member
		err error
	)
	switch holds {
	case campaign.HoldsReferralCode:
		mem, err = m.a.Queries.MemberGetByCode(ctx, db.MemberGetByCodeParams{CampaignID: c.row.ID, ReferralCode: value})
	case campaign.HoldsMemberEmail:
		mem, err = m.a.Queries.MemberGetByEmail(ctx, db.MemberGetByEmailParams{CampaignID: c.row.ID, Email: value})
	case campaign.HoldsMemberExternalID:
		mem, err = m.a.Queries.MemberGetByExternalID(ctx, db.MemberGetByExternalIDParams{CampaignID: c.row.ID, ExternalID: &value})
	case campaign.HoldsMemberID:
		id, perr := uuid.Parse(value)
		if perr != nil {
			err = pgx.ErrNoRows
			break
		}
		mem, err = m.a.Queries.MemberGetByID(ctx, id)
		if err == nil && mem.CampaignID != c.row.ID {
			err = pgx.ErrNoRows
		}
	default:
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		m.unresolved[c.row.ID.String()] = how + ": no member of the campaign has that value"
		return nil
	}
	if err != nil {
		return fmt.Errorf("resolve %s to a member of campaign %s: %w", holds, c.row.ID, err)
	}
	m.add(MatchCandidate{MemberID: mem.ID.String(), CampaignID: mem.CampaignID.String(), How: how})
	return nil
}

// hints say, per campaign, why an unmatched entry looks like a referral.
func (m *matcher) hints() {
	for _, c := range m.camps {
		id := c.row.ID.String()
		if why, ok := m.unresolved[id]; ok {
			m.res.Hints = append(m.res.Hints, NoMatchHint{CampaignID: id, Why: why})
			continue
		}
		if m.in.Property == "" {
			continue
		}
		if to, ok := c.settings.StatusRules.Match(m.in.Object.ObjectType, m.in.Property, m.in.Value); ok {
			m.res.Hints = append(m.res.Hints, NoMatchHint{CampaignID: id,
				Why: fmt.Sprintf("%s.%s = %s would move a referral to %s", m.in.Object.ObjectType, m.in.Property, m.in.Value, to)})
		}
	}
}

// rules records a campaign's process-rule switches.
// A campaign whose settings cannot be read gets no switches: nothing is
// processed automatically for it.
func (m *matcher) rules(ctx context.Context, campaignID string) error {
	if _, ok := m.res.Rules[campaignID]; ok {
		return nil
	}
	for _, c := range m.camps {
		if c.row.ID.String() == campaignID {
			m.res.Rules[campaignID] = rulesOf(c.settings)
			return nil
		}
	}
	// A candidate of a campaign that is not active (paused, archived):
	// read its switches too.
	id, err := uuid.Parse(campaignID)
	if err != nil {
		return nil
	}
	row, err := m.a.Queries.CampaignGetByID(ctx, id)
	if err != nil {
		return fmt.Errorf("load campaign %s: %w", campaignID, err)
	}
	s, err := CampaignSettings(row)
	if err != nil {
		m.res.Rules[campaignID] = CampaignRules{}
		return nil
	}
	m.res.Rules[campaignID] = rulesOf(s)
	return nil
}

func rulesOf(s campaign.Settings) CampaignRules {
	p := s.ProcessRules
	return CampaignRules{
		AutoProcessDirectMatches: p.AutoProcessDirectMatches, AutoProcessFuzzyMatches: p.AutoProcessFuzzyMatches,
		ReviewWhenNoMemberMatches: p.ReviewWhenNoMemberMatches, NotifyOnReview: p.NotifyOnReview,
	}
}
