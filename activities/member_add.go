package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// NewMember is a person joining a campaign to refer.
type NewMember struct {
	WorkspaceID, CampaignID uuid.UUID
	Email                   string
	FirstName, LastName     string
	ExternalID              string
	// ReferralCode is the code asked for; empty makes one (referral.NewCode).
	ReferralCode string
	Source       referral.MemberSource
	// HubSpotContactID links the member to their HubSpot contact when the
	// way in knows it (a contact sync); 0 when not.
	HubSpotContactID int64
}

// DuplicateMemberError says the campaign already has a member with this
// email (in any case): nothing was added. The join page and imports answer
// with Existing (a returning member keeps their code); the admin API
// answers 409.
type DuplicateMemberError struct {
	Existing db.Member
}

func (e *DuplicateMemberError) Error() string {
	return fmt.Sprintf("campaign %s already has this email as member %s", e.Existing.CampaignID, e.Existing.ID)
}

// CodeTakenError says the referral code asked for is another member's in the
// campaign.
type CodeTakenError struct{ Code string }

func (e *CodeTakenError) Error() string {
	return fmt.Sprintf("the referral code %q is taken in this campaign", e.Code)
}

// ExternalIDTakenError says the external ID is another member's in the
// campaign.
type ExternalIDTakenError struct{ ExternalID string }

func (e *ExternalIDTakenError) Error() string {
	return "this external ID is already used in the campaign"
}

// AddMember is the one way a member is added, whatever the way in (the
// admin API, the join page, CSV imports, contact syncs): while the campaign
// is active (CheckCampaignTakesNew holds its status until the member is
// written) it inserts the member with the code asked for or a new one
// (retrying a generated code that collides). An email the campaign already
// has is a *DuplicateMemberError naming that member, whatever the campaign's
// status; a code or external ID taken is a *CodeTakenError or
// *ExternalIDTakenError; a campaign not active is a
// *campaign.NotActiveError. Nothing is written in those cases.
//
// The caller starts the member's workflow (workflows.StartMemberWorkflow),
// which sends the member to HubSpot; one it does not start (a CSV import's
// members, a lost start) the worker's reconciler starts. Members of a way in
// that writes back itself (referral.MemberSource.WritesBackItself: a contact
// sync) are added with their workflow marked started, and get none.
//
// It is AddMembers with one member: a CSV import adds a thousand at once
// through the same code.
func AddMember(ctx context.Context, pool *pgxpool.Pool, in NewMember) (db.Member, error) {
	added, err := AddMembers(ctx, pool, []NewMember{in})
	if err != nil {
		return db.Member{}, err
	}
	return added[0].Member, added[0].Err
}

// MemberAdded is the outcome of one member of AddMembers: the member added,
// or why not (the errors AddMember returns).
type MemberAdded struct {
	Member db.Member
	Err    error
}

// Beginner starts a transaction: a pool, or a transaction (then a
// savepoint), so that a CSV import commits a batch of members with its own
// progress.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// maxCodeAttempts bounds the retries of generated codes that collide.
const maxCodeAttempts = 5

// AddMembers adds members of one campaign (every NewMember has the same
// campaign and workspace) as AddMember adds one, in one statement a round:
// it returns an outcome per member, in order, each what AddMember would
// have returned. A later member with the email of an earlier one is a
// *DuplicateMemberError naming it. The error is for what stopped the whole
// batch (the database), when nothing is known of any member.
func AddMembers(ctx context.Context, conn Beginner, ins []NewMember) ([]MemberAdded, error) {
	out := make([]MemberAdded, len(ins))
	if len(ins) == 0 {
		return out, nil
	}
	campaignID, workspaceID := ins[0].CampaignID, ins[0].WorkspaceID
	pending := make([]int, 0, len(ins))
	for i, in := range ins {
		switch {
		case in.CampaignID != campaignID || in.WorkspaceID != workspaceID:
			return nil, errors.New("AddMembers adds members of one campaign at a time")
		case strings.TrimSpace(in.Email) == "":
			out[i].Err = errors.New("a member needs an email")
		default:
			pending = append(pending, i)
		}
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		var retry []int
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var err error
			retry, err = addMembersOnce(ctx, db.New(tx), ins, pending, out, attempt)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("add members to campaign %s: %w", campaignID, err)
		}
		pending = retry
	}
	return out, nil
}

// addMembersOnce is one round of AddMembers, in one transaction: it fills
// the outcome of the pending members it settles and returns those to try
// again (a generated code that collided).
func addMembersOnce(ctx context.Context, q *db.Queries, ins []NewMember, pending []int, out []MemberAdded, attempt int) ([]int, error) {
	campaignID := ins[pending[0]].CampaignID
	takesNew := CheckCampaignTakesNew(ctx, q, campaignID)
	var notActive *campaign.NotActiveError
	if takesNew != nil && !errors.As(takesNew, &notActive) {
		return nil, takesNew
	}
	lower := make([]string, len(pending))
	for k, i := range pending {
		lower[k] = strings.ToLower(strings.TrimSpace(ins[i].Email))
	}
	existing, err := q.MemberListByEmails(ctx, db.MemberListByEmailsParams{CampaignID: campaignID, LowerEmails: lower})
	if err != nil {
		return nil, fmt.Errorf("find members by email: %w", err)
	}
	byEmail := make(map[string]db.Member, len(existing))
	for _, m := range existing {
		byEmail[strings.ToLower(m.Email)] = m
	}
	source := ins[pending[0]].Source
	params := db.MemberCreateManyParams{WorkspaceID: ins[pending[0]].WorkspaceID, CampaignID: campaignID, Source: string(source)}
	if source.WritesBackItself() {
		// No member workflow: the way in writes the member back itself
		// (workflows/member.go); the reconciler leaves a started member alone.
		now := time.Now()
		params.WorkflowStartedAt = &now
	}
	var inserting []int
	first := map[string]int{} // an email's first pending member in this round
	for k, i := range pending {
		if m, ok := byEmail[lower[k]]; ok {
			out[i].Err = &DuplicateMemberError{Existing: m}
			continue
		}
		if takesNew != nil {
			out[i].Err = takesNew
			continue
		}
		if _, ok := first[lower[k]]; ok {
			continue // settled after the insert, as a duplicate of the first
		}
		first[lower[k]] = i
		in := ins[i]
		code := in.ReferralCode
		if code == "" {
			code = referral.NewCode(in.FirstName)
		}
		inserting = append(inserting, i)
		params.ReferralCodes = append(params.ReferralCodes, code)
		params.Emails = append(params.Emails, strings.TrimSpace(in.Email))
		params.FirstNames = append(params.FirstNames, in.FirstName)
		params.LastNames = append(params.LastNames, in.LastName)
		params.ExternalIds = append(params.ExternalIds, in.ExternalID)
		params.HubspotContactIds = append(params.HubspotContactIds, in.HubSpotContactID)
	}
	if len(inserting) == 0 {
		return nil, nil
	}
	created, err := q.MemberCreateMany(ctx, params)
	if err != nil {
		return nil, err
	}
	for _, m := range created {
		byEmail[strings.ToLower(m.Email)] = m
	}
	at := make(map[int]int, len(inserting)) // member → its place in params
	for k, i := range inserting {
		at[i] = k
	}
	var retry []int
	for k, i := range pending {
		if out[i].Err != nil {
			continue
		}
		m, ok := byEmail[lower[k]]
		switch {
		case ok && first[lower[k]] == i && m.ReferralCode == params.ReferralCodes[at[i]]:
			out[i].Member = m
			continue
		case ok:
			out[i].Err = &DuplicateMemberError{Existing: m}
			continue
		case first[lower[k]] != i:
			// The first member with this email was not added: this one
			// is tried in the next round.
			retry = append(retry, i)
			continue
		case attempt >= 2*maxCodeAttempts:
			out[i].Err = fmt.Errorf("the member %d could not be added after %d attempts", i, attempt+1)
			continue
		}
		// Not inserted, and no member has the email: the code or the
		// external ID is taken (by a member or an earlier row), or another
		// transaction added the email meanwhile.
		in := ins[i]
		if m, err := q.MemberGetByEmail(ctx, db.MemberGetByEmailParams{CampaignID: campaignID, Email: strings.TrimSpace(in.Email)}); err == nil {
			out[i].Err = &DuplicateMemberError{Existing: m}
			continue
		}
		code := params.ReferralCodes[at[i]]
		if _, err := q.MemberGetByCode(ctx, db.MemberGetByCodeParams{CampaignID: campaignID, ReferralCode: code}); err == nil || codeTakenInRound(params.ReferralCodes[:at[i]], code) {
			if in.ReferralCode == "" && attempt < maxCodeAttempts {
				retry = append(retry, i)
			} else {
				out[i].Err = &CodeTakenError{Code: code}
			}
			continue
		}
		if in.ExternalID != "" {
			out[i].Err = &ExternalIDTakenError{ExternalID: in.ExternalID}
			continue
		}
		retry = append(retry, i) // a concurrent change: try again
	}
	return retry, nil
}

// codeTakenInRound tells whether an earlier member of the round asked for
// the code.
func codeTakenInRound(earlier []string, code string) bool {
	for _, c := range earlier {
		if c == code {
			return true
		}
	}
	return false
}
