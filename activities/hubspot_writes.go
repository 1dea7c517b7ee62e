package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// HubSpotWritesChannel is the Postgres NOTIFY channel on which migration
// 0023's triggers announce a new mark (member_hubspot_writes,
// referral_hubspot_writes); the worker's HubSpot writer LISTENs on it.
const HubSpotWritesChannel = "hubspot_writes"

// Tuning of WriteMarkedToHubSpot.
const (
	// markedWriteLease is how long a claim keeps other writers off its
	// marks: longer than a batch call (the client's timeout, the rate
	// limiter's wait), and what a writer that died costs its marks.
	markedWriteLease = time.Minute
	// markedWriteCallTimeout bounds one call's HubSpot requests, rate
	// limiter included, well within the lease.
	markedWriteCallTimeout = 40 * time.Second
	// A failed write is retried after markedWriteMinRetry, doubling with
	// each failure up to markedWriteMaxRetry (±20%), or after HubSpot's own
	// wait on a 429.
	markedWriteMinRetry = time.Second
	markedWriteMaxRetry = 2 * time.Minute
)

// MarkedWriteResult is what one WriteMarkedToHubSpot call did.
type MarkedWriteResult struct {
	// Members and Referrals are the marks taken; Failed those left for a
	// retry. Zero marks taken: nothing of the workspace is due.
	Members   int `json:",omitempty"`
	Referrals int `json:",omitempty"`
	Failed    int `json:",omitempty"`
	// Contacts and Deals are the records written; Calls the HubSpot calls
	// made (batch updates, and the rare single-member write of a member
	// whose contact was deleted).
	Contacts int `json:",omitempty"`
	Deals    int `json:",omitempty"`
	Calls    int `json:",omitempty"`
	// More says the call took as many marks as one batch holds: more may be
	// waiting. The writer calls again only then, so that a steady stream of
	// changes is written once a window, not a few records at a time.
	More bool `json:",omitempty"`
}

// Taken is how many marks the call took.
func (r MarkedWriteResult) Taken() int { return r.Members + r.Referrals }

// WriteMarkedToHubSpot writes one batch of what Postgres marked for HubSpot
// in a workspace (migration 0023): members' referral code, link and counts
// to their contacts (memberProperties, the properties WriteMemberToHubSpot
// writes), and referrals' referflow_referral_status and
// referflow_referred_by_code to their lead's contact and deal. Called over
// and over by the worker's HubSpot writer while it takes marks.
//
// A workspace's marks are written together once its oldest has waited the
// write window (2 s): one call takes up to 100 member marks and, with the
// room left among 100 contacts, referral marks, due or fresh, and makes at
// most one batch update of contacts and one of deals. A burst of changes
// over N members costs ceil(N/100) calls, whatever the number of changes,
// because a member is marked once however often it changes before its
// write. Values are read after the marks are taken, as they are then: a
// change committed after that marks again, and is written a window later.
//
// Marks are deleted only for what HubSpot took. A failed call (HubSpot
// down, a rate limit, no working connection) keeps them, due again after a
// backoff, and returns the error; nothing is lost. A member whose contact
// HubSpot no longer has is written once by WriteMemberToHubSpot, which finds
// the contact by email (or skips the member); a lead record HubSpot no
// longer has is dropped (the Sales Receiver forgets it when the deletion's
// webhook comes). Members without a contact and referrals without records
// cost no call.
func (h *HubSpot) WriteMarkedToHubSpot(ctx context.Context, workspaceID string) (MarkedWriteResult, error) {
	var res MarkedWriteResult
	if h == nil || h.Queries == nil {
		return res, errors.New("this worker's HubSpot activities have no database")
	}
	ws, err := uuid.Parse(workspaceID)
	if err != nil {
		return res, fmt.Errorf("%q is not a workspace ID", workspaceID)
	}
	q := h.Queries
	b := &markedBatch{h: h, ws: ws, contacts: map[string]map[string]string{}, deals: map[string]map[string]string{},
		contactMembers: map[string][]uuid.UUID{}, recordReferrals: map[string][]uuid.UUID{}}
	b.members, err = q.MemberHubSpotWriteClaim(ctx, db.MemberHubSpotWriteClaimParams{
		WorkspaceID: ws, LeaseMs: markedWriteLease.Milliseconds(), MaxRows: hubspot.MaxBatchInputs,
	})
	if err != nil {
		return res, fmt.Errorf("take workspace %s's member marks: %w", ws, err)
	}
	res.Members = len(b.members)
	if len(b.members) > 0 {
		ids := make([]uuid.UUID, len(b.members))
		for i, m := range b.members {
			ids[i] = m.MemberID
		}
		members, err := q.MemberListByIDs(ctx, ids)
		if err != nil {
			return res, b.fail(ctx, &res, fmt.Errorf("load workspace %s's marked members: %w", ws, err), b.all())
		}
		for _, m := range members {
			if m.HubspotContactID == nil || m.ErasedAt != nil {
				continue // unlinked since it was marked, or erased: nothing to write
			}
			props, err := memberProperties(m, h.PublicURL)
			if err != nil {
				return res, b.fail(ctx, &res, err, b.all())
			}
			id := strconv.FormatInt(*m.HubspotContactID, 10)
			b.set(b.contacts, id, props)
			b.contactMembers[id] = append(b.contactMembers[id], m.ID)
		}
	}
	res.More = len(b.members) == hubspot.MaxBatchInputs
	if room := hubspot.MaxBatchInputs - len(b.contacts); room > 0 {
		b.referrals, err = q.ReferralHubSpotWriteClaim(ctx, db.ReferralHubSpotWriteClaimParams{
			WorkspaceID: ws, LeaseMs: markedWriteLease.Milliseconds(), MaxRows: int32(room),
		})
		if err != nil {
			err = fmt.Errorf("take workspace %s's referral marks: %w", ws, err)
			return res, b.fail(ctx, &res, err, b.all())
		}
		res.More = res.More || len(b.referrals) == room
	} else {
		res.More = true // referral marks wait for the next call
	}
	res.Referrals = len(b.referrals)
	if len(b.referrals) > 0 {
		ids := make([]uuid.UUID, len(b.referrals))
		version := map[uuid.UUID]int64{}
		for i, r := range b.referrals {
			ids[i], version[r.ReferralID] = r.ReferralID, r.Version
		}
		leads, err := q.ReferralListForHubSpotWrite(ctx, ids)
		if err != nil {
			return res, b.fail(ctx, &res, fmt.Errorf("load workspace %s's marked referrals: %w", ws, err), b.all())
		}
		// Oldest mark first: of referrals sharing a record (one lead
		// referred in two campaigns), the last changed wins.
		slices.SortFunc(leads, func(x, y db.ReferralListForHubSpotWriteRow) int { return cmp.Compare(version[x.ID], version[y.ID]) })
		for _, r := range leads {
			if r.CannotQualifyReason != nil {
				continue // HubSpot had the lead before; duplicate handling leaves it alone
			}
			props := leadReferralProperties(r.Status, r.MemberReferralCode)
			if r.HubspotContactID != nil {
				id := strconv.FormatInt(*r.HubspotContactID, 10)
				b.set(b.contacts, id, props)
				b.recordReferrals["contact/"+id] = append(b.recordReferrals["contact/"+id], r.ID)
			}
			if r.HubspotDealID != nil {
				id := strconv.FormatInt(*r.HubspotDealID, 10)
				b.set(b.deals, id, props)
				b.recordReferrals["deal/"+id] = append(b.recordReferrals["deal/"+id], r.ID)
			}
		}
	}
	if res.Taken() == 0 {
		return res, nil
	}
	if len(b.contacts) == 0 && len(b.deals) == 0 {
		return res, b.done(ctx, b.all())
	}

	if h.Conn == nil {
		return res, b.fail(ctx, &res, errors.New("this worker's HubSpot activities have no connection manager"), b.all())
	}
	// The calls end well within the lease, so no other writer takes these
	// marks while they are being written (a rate limiter holding the portal
	// longer refuses at once, and the marks wait out its hold).
	callCtx, cancel := context.WithTimeout(ctx, markedWriteCallTimeout)
	defer cancel()
	c, _, err := h.Conn.Client(callCtx, ws)
	if err != nil {
		return res, b.fail(ctx, &res, fmt.Errorf("HubSpot client of workspace %s: %w", ws, err), b.all())
	}
	failed := markedSubjects{members: map[uuid.UUID]bool{}, referrals: map[uuid.UUID]bool{}}
	var failures []error
	for _, t := range []hubspot.ObjectType{hubspot.Contacts, hubspot.Deals} {
		records := b.contacts
		if t == hubspot.Deals {
			records = b.deals
		}
		if len(records) == 0 {
			continue
		}
		inputs := make([]hubspot.UpdateInput, 0, len(records))
		for id, props := range records {
			inputs = append(inputs, hubspot.UpdateInput{ID: id, Properties: props})
		}
		res.Calls++
		out, err := c.BatchUpdate(callCtx, t, inputs)
		if err != nil {
			// The whole batch failed: every mark is kept (a record of it
			// written in the other batch is written again, the same values).
			return res, b.fail(ctx, &res, fmt.Errorf("batch update of %d %s of workspace %s: %w", len(inputs), t, ws, err), b.all())
		}
		written := len(inputs)
		for _, be := range out.Errors {
			for _, id := range be.IDs() {
				written--
				if be.Category == "OBJECT_NOT_FOUND" {
					if t == hubspot.Contacts {
						b.contactGone(callCtx, &res, id, failed)
					}
					continue // a lead record that is gone is dropped
				}
				b.subjectsOf(t, id, failed)
				failures = append(failures, fmt.Errorf("%s %s: %s %s", t, id, be.Category, be.Message))
			}
		}
		if t == hubspot.Contacts {
			res.Contacts = written
		} else {
			res.Deals = written
		}
	}

	ok, bad := b.split(failed)
	if err := b.done(ctx, ok); err != nil {
		return res, err
	}
	if len(bad.members)+len(bad.referrals) > 0 {
		if len(failures) == 0 {
			failures = append(failures, errors.New("the member's contact was deleted and writing it again failed"))
		}
		return res, b.fail(ctx, &res, fmt.Errorf("workspace %s: %w", ws, errors.Join(failures...)), bad)
	}
	return res, nil
}

// leadReferralProperties are what a referral's lead records (the contact
// and deal it created or was matched to) show of it.
func leadReferralProperties(status, memberCode string) map[string]string {
	return map[string]string{
		hubspotobject.PropReferralStatus: status,
		hubspotobject.PropReferredByCode: memberCode,
	}
}

// markedBatch is one WriteMarkedToHubSpot call's marks and records.
type markedBatch struct {
	h         *HubSpot
	ws        uuid.UUID
	members   []db.MemberHubSpotWriteClaimRow
	referrals []db.ReferralHubSpotWriteClaimRow
	// contacts and deals are the properties to write per record ID: a
	// contact that is a member's and a lead's gets both sets.
	contacts, deals map[string]map[string]string
	// contactMembers and recordReferrals say whose records they are
	// (contact ID → members; "contact/<id>", "deal/<id>" → referrals).
	contactMembers  map[string][]uuid.UUID
	recordReferrals map[string][]uuid.UUID
}

// markedSubjects are members and referrals by ID.
type markedSubjects struct {
	members, referrals map[uuid.UUID]bool
}

func (b *markedBatch) set(records map[string]map[string]string, id string, props map[string]string) {
	if records[id] == nil {
		records[id] = map[string]string{}
	}
	for k, v := range props {
		records[id][k] = v
	}
}

func (b *markedBatch) all() markedSubjects {
	s := markedSubjects{members: map[uuid.UUID]bool{}, referrals: map[uuid.UUID]bool{}}
	for _, m := range b.members {
		s.members[m.MemberID] = true
	}
	for _, r := range b.referrals {
		s.referrals[r.ReferralID] = true
	}
	return s
}

// subjectsOf adds to s the members and referrals a record belongs to.
func (b *markedBatch) subjectsOf(t hubspot.ObjectType, id string, s markedSubjects) {
	if t == hubspot.Contacts {
		for _, m := range b.contactMembers[id] {
			s.members[m] = true
		}
	}
	key := "deal/" + id
	if t == hubspot.Contacts {
		key = "contact/" + id
	}
	for _, r := range b.recordReferrals[key] {
		s.referrals[r] = true
	}
}

// contactGone handles a contact HubSpot no longer has: its members are
// written by WriteMemberToHubSpot, which finds their contact by email and
// stores it (or skips them: they have none). A member whose write fails is
// added to failed.
func (b *markedBatch) contactGone(ctx context.Context, res *MarkedWriteResult, id string, failed markedSubjects) {
	for _, m := range b.contactMembers[id] {
		res.Calls++
		if _, err := b.h.WriteMemberToHubSpot(ctx, m.String()); err != nil {
			failed.members[m] = true
		}
	}
}

// split parts the batch's marks into those written and those in failed.
func (b *markedBatch) split(failed markedSubjects) (ok, bad markedSubjects) {
	ok = markedSubjects{members: map[uuid.UUID]bool{}, referrals: map[uuid.UUID]bool{}}
	bad = markedSubjects{members: map[uuid.UUID]bool{}, referrals: map[uuid.UUID]bool{}}
	for id := range b.all().members {
		if failed.members[id] {
			bad.members[id] = true
		} else {
			ok.members[id] = true
		}
	}
	for id := range b.all().referrals {
		if failed.referrals[id] {
			bad.referrals[id] = true
		} else {
			ok.referrals[id] = true
		}
	}
	return ok, bad
}

// done deletes the marks of s at the versions taken, and frees the others
// (marked again meanwhile: due a window later).
func (b *markedBatch) done(ctx context.Context, s markedSubjects) error {
	ctx = context.WithoutCancel(ctx) // what was written is recorded, even on shutdown
	var mp db.MemberHubSpotWriteDoneParams
	for _, m := range b.members {
		if s.members[m.MemberID] {
			mp.MemberIds, mp.Versions = append(mp.MemberIds, m.MemberID), append(mp.Versions, m.Version)
		}
	}
	if len(mp.MemberIds) > 0 {
		if err := b.h.Queries.MemberHubSpotWriteDone(ctx, mp); err != nil {
			return fmt.Errorf("clear %d member marks of workspace %s: %w", len(mp.MemberIds), b.ws, err)
		}
		if err := b.h.Queries.MemberHubSpotWriteRelease(ctx, mp.MemberIds); err != nil {
			return fmt.Errorf("release %d member marks of workspace %s: %w", len(mp.MemberIds), b.ws, err)
		}
	}
	var rp db.ReferralHubSpotWriteDoneParams
	for _, r := range b.referrals {
		if s.referrals[r.ReferralID] {
			rp.ReferralIds, rp.Versions = append(rp.ReferralIds, r.ReferralID), append(rp.Versions, r.Version)
		}
	}
	if len(rp.ReferralIds) > 0 {
		if err := b.h.Queries.ReferralHubSpotWriteDone(ctx, rp); err != nil {
			return fmt.Errorf("clear %d referral marks of workspace %s: %w", len(rp.ReferralIds), b.ws, err)
		}
		if err := b.h.Queries.ReferralHubSpotWriteRelease(ctx, rp.ReferralIds); err != nil {
			return fmt.Errorf("release %d referral marks of workspace %s: %w", len(rp.ReferralIds), b.ws, err)
		}
	}
	return nil
}

// fail keeps the marks of s for a retry after a backoff grown with their
// attempts, and returns cause (joined with a failure to record it).
func (b *markedBatch) fail(ctx context.Context, res *MarkedWriteResult, cause error, s markedSubjects) error {
	ctx = context.WithoutCancel(ctx)
	attempts := int32(0)
	var members, referrals []uuid.UUID
	for _, m := range b.members {
		if s.members[m.MemberID] {
			members, attempts = append(members, m.MemberID), max(attempts, m.Attempts)
		}
	}
	for _, r := range b.referrals {
		if s.referrals[r.ReferralID] {
			referrals, attempts = append(referrals, r.ReferralID), max(attempts, r.Attempts)
		}
	}
	res.Failed = len(members) + len(referrals)
	retry := markedRetryDelay(cause, attempts).Milliseconds()
	reason := truncateReason(cause.Error())
	var errs []error
	if len(members) > 0 {
		if err := b.h.Queries.MemberHubSpotWriteFailed(ctx, db.MemberHubSpotWriteFailedParams{MemberIds: members, RetryMs: retry, LastError: &reason}); err != nil {
			errs = append(errs, fmt.Errorf("keep %d member marks for a retry: %w", len(members), err))
		}
	}
	if len(referrals) > 0 {
		if err := b.h.Queries.ReferralHubSpotWriteFailed(ctx, db.ReferralHubSpotWriteFailedParams{ReferralIds: referrals, RetryMs: retry, LastError: &reason}); err != nil {
			errs = append(errs, fmt.Errorf("keep %d referral marks for a retry: %w", len(referrals), err))
		}
	}
	return errors.Join(append([]error{cause}, errs...)...)
}

// markedRetryDelay is when marks whose write failed are due again: after
// HubSpot's wait on a 429 (or the rate limiter's hold of the portal), else
// after a backoff doubling with each failed attempt, with jitter so that
// the workspaces of a HubSpot outage do not come back all at once.
func markedRetryDelay(err error, attempts int32) time.Duration {
	var rl *hubspot.RateLimitError
	if errors.As(err, &rl) && rl.RetryAfter > 0 {
		return rl.RetryAfter
	}
	var hold *hubspot.WaitTooLongError
	if errors.As(err, &hold) && hold.Wait > 0 {
		return hold.Wait
	}
	d := markedWriteMaxRetry
	if attempts < 20 {
		d = min(markedWriteMinRetry<<attempts, markedWriteMaxRetry)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// truncateReason keeps a stored error short.
func truncateReason(s string) string {
	const n = 500
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
