package privacy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/referral"
)

// Counts are what an erasure erased: rows changed, per table.
type Counts map[string]int64

// Forget erases a person from Temporal's histories (the payload codec's
// per-person key, internal/personaldata): called by Erase in the erasure's
// transaction, with the person's email.
type Forget func(ctx context.Context, q db.DBTX, email string) error

// person is what a workspace holds of one person, found by email.
type person struct {
	workspaceID uuid.UUID
	members     []db.Member
	referrals   []db.Referral
	// emails are every spelling of the person's address held, and their
	// phone numbers: replaced wherever they appear. words are their first
	// and last names: replaced as whole words.
	emails, words []string
	contactIDs    []int64
	// patterns find rows naming the person (ILIKE); idPatterns add their
	// members' and referrals' IDs (for outgoing webhooks, which name
	// referrals and members by ID).
	patterns, idPatterns []string
}

func (p person) memberIDs() []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(p.members))
	for _, m := range p.members {
		ids = append(ids, m.ID)
	}
	return ids
}

func (p person) referralIDs() []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(p.referrals))
	for _, r := range p.referrals {
		ids = append(ids, r.ID)
	}
	return ids
}

func (p person) contactIDStrings() []string {
	out := make([]string, 0, len(p.contactIDs))
	for _, id := range p.contactIDs {
		out = append(out, fmt.Sprint(id))
	}
	return out
}

// find reads the person with this email in the workspace: their members and
// the referrals whose lead they are, and the terms that name them.
func find(ctx context.Context, q *db.Queries, workspaceID uuid.UUID, email string) (person, error) {
	normalized := referral.NormalizeEmail(email)
	p := person{workspaceID: workspaceID}
	var err error
	if p.members, err = q.MemberListOfPerson(ctx, db.MemberListOfPersonParams{WorkspaceID: workspaceID, EmailNormalized: normalized}); err != nil {
		return person{}, fmt.Errorf("find the person's members: %w", err)
	}
	if p.referrals, err = q.ReferralListOfLead(ctx, db.ReferralListOfLeadParams{WorkspaceID: workspaceID, EmailNormalized: normalized}); err != nil {
		return person{}, fmt.Errorf("find the referrals whose lead is the person: %w", err)
	}
	emails := []string{strings.TrimSpace(email), normalized}
	var words []string
	addWords := func(s *string) {
		if s != nil {
			words = append(words, strings.Fields(*s)...)
		}
	}
	addContact := func(id *int64) {
		if id != nil && !slices.Contains(p.contactIDs, *id) {
			p.contactIDs = append(p.contactIDs, *id)
		}
	}
	for _, m := range p.members {
		// The code too: codes are often made of a name.
		emails = append(emails, m.Email, m.ReferralCode)
		addWords(m.FirstName)
		addWords(m.LastName)
		addContact(m.HubspotContactID)
		p.idPatterns = append(p.idPatterns, like(m.ID.String()))
	}
	for _, r := range p.referrals {
		emails = append(emails, r.LeadEmail, r.LeadEmailNormalized)
		if r.LeadPhone != nil && strings.TrimSpace(*r.LeadPhone) != "" {
			emails = append(emails, strings.TrimSpace(*r.LeadPhone))
		}
		addWords(r.LeadFirstName)
		addWords(r.LeadLastName)
		addContact(r.HubspotContactID)
		p.idPatterns = append(p.idPatterns, like(r.ID.String()))
	}
	p.emails = distinctFold(emails, 3)
	p.words = distinctFold(words, 2)
	for _, e := range p.emails {
		if strings.Contains(e, "@") {
			p.patterns = append(p.patterns, like(e))
		}
	}
	p.idPatterns = append(p.idPatterns, p.patterns...)
	if p.contactIDs == nil {
		p.contactIDs = []int64{}
	}
	return p, nil
}

// like is an ILIKE pattern finding s anywhere.
func like(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// distinctFold keeps the terms of at least min characters, each once
// whatever its case.
func distinctFold(terms []string, minLen int) []string {
	out := []string{}
	for _, t := range terms {
		t = strings.TrimSpace(t)
		if len(t) < minLen || slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, t) }) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// Erase erases the person with this email from the workspace's data, in the
// caller's transaction tx (so it is all or nothing), and calls forget with
// the email in that same transaction: the one erasure verb, whichever way it
// was asked for (see the package doc). It is idempotent: erased rows no
// longer hold the email, so a repeat finds and changes nothing.
func Erase(ctx context.Context, tx db.DBTX, forget Forget, workspaceID uuid.UUID, email string) (Counts, error) {
	if forget == nil {
		return nil, fmt.Errorf("privacy: erase without the personal-data keyring: Temporal's copies could not be erased")
	}
	q := db.New(tx)
	p, err := find(ctx, q, workspaceID, email)
	if err != nil {
		return nil, err
	}
	if err := q.PrivacyErasureAllowAuditRewrite(ctx); err != nil {
		return nil, fmt.Errorf("allow the audit trail's rewrite: %w", err)
	}
	memberIDs, referralIDs := p.memberIDs(), p.referralIDs()
	e, w := p.emails, p.words
	counts := Counts{}
	steps := []struct {
		table string
		run   func() (int64, error)
	}{
		{"members", func() (int64, error) {
			return q.MemberErase(ctx, db.MemberEraseParams{Emails: e, Words: w, Ids: memberIDs})
		}},
		{"referrals", func() (int64, error) {
			return q.ReferralErase(ctx, db.ReferralEraseParams{Emails: e, Words: w, Ids: referralIDs})
		}},
		{"referral_events", func() (int64, error) {
			return q.ReferralEventErase(ctx, db.ReferralEventEraseParams{Emails: e, Words: w, WorkspaceID: workspaceID, ReferralIds: referralIDs, Patterns: p.patterns})
		}},
		{"sales_entries", func() (int64, error) {
			return q.SalesEntryErase(ctx, db.SalesEntryEraseParams{ContactIds: p.contactIDs, Emails: e, Words: w, WorkspaceID: &workspaceID,
				ReferralIds: referralIDs, MemberIds: memberIDs, Patterns: p.patterns})
		}},
		{"review_entries", func() (int64, error) {
			return q.ReviewEntryErase(ctx, db.ReviewEntryEraseParams{Emails: e, Words: w, WorkspaceID: workspaceID, ReferralIds: referralIDs,
				ContactIds: p.contactIDs, Patterns: p.patterns})
		}},
		{"emails", func() (int64, error) {
			return q.EmailErase(ctx, db.EmailEraseParams{Emails: e, Words: w, MemberIds: memberIDs})
		}},
		{"import_rows", func() (int64, error) {
			return q.ImportRowErase(ctx, db.ImportRowEraseParams{Emails: e, Words: w, WorkspaceID: workspaceID, ReferralIds: referralIDs, Patterns: p.patterns})
		}},
		{"import_errors", func() (int64, error) {
			return q.ImportErrorErase(ctx, db.ImportErrorEraseParams{Emails: e, Words: w, WorkspaceID: workspaceID, Patterns: p.patterns})
		}},
		{"sync_failures", func() (int64, error) {
			return q.SyncFailureErase(ctx, db.SyncFailureEraseParams{Emails: e, Words: w, WorkspaceID: workspaceID, ContactIds: p.contactIDStrings(), Patterns: p.patterns})
		}},
		{"rewards", func() (int64, error) {
			return q.RewardErase(ctx, db.RewardEraseParams{Emails: e, Words: w, ReferralIds: referralIDs, MemberIds: memberIDs})
		}},
		{"hubspot_action_executions", func() (int64, error) {
			return q.HubSpotActionExecutionErase(ctx, db.HubSpotActionExecutionEraseParams{Emails: e, Words: w, WorkspaceID: workspaceID,
				ReferralIds: referralIDs, ContactIds: p.contactIDs, Patterns: p.patterns})
		}},
		{"hubspot_writes", func() (int64, error) {
			n, err := q.MemberHubSpotWriteForget(ctx, memberIDs)
			if err != nil {
				return 0, err
			}
			m, err := q.ReferralHubSpotWriteForget(ctx, referralIDs)
			return n + m, err
		}},
	}
	for _, s := range steps {
		n, err := s.run()
		if err != nil {
			return nil, fmt.Errorf("erase the person from %s: %w", s.table, err)
		}
		counts[s.table] = n
	}
	deliveries, err := q.WebhookDeliveryErase(ctx, db.WebhookDeliveryEraseParams{Emails: e, Words: w, WorkspaceID: workspaceID, Patterns: p.idPatterns})
	if err != nil {
		return nil, fmt.Errorf("erase the person from webhook_deliveries: %w", err)
	}
	counts["webhook_deliveries"] = int64(len(deliveries))
	if deliveries == nil {
		deliveries = []uuid.UUID{}
	}
	attempts, err := q.WebhookDeliveryAttemptErase(ctx, db.WebhookDeliveryAttemptEraseParams{Emails: e, Words: w, WorkspaceID: workspaceID, DeliveryIds: deliveries, Patterns: p.patterns})
	if err != nil {
		return nil, fmt.Errorf("erase the person from webhook_delivery_attempts: %w", err)
	}
	counts["webhook_delivery_attempts"] = attempts
	if err := forget(ctx, tx, email); err != nil {
		return nil, fmt.Errorf("erase the person's personal-data key: %w", err)
	}
	return counts, nil
}
