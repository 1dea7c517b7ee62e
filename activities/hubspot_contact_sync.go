package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/contactsync"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/referral"
)

// SyncPage asks for page Page of a sync's run (the number of pages the run
// has committed so far).
type SyncPage struct {
	SyncID string
	Page   int
}

// Page sizes: HubSpot's largest. A search page is smaller than it could be
// (200) because searches are the scarcer budget (4 a second) and a page's
// write-back is two batch calls either way.
const (
	syncContactsPageSize    = hubspot.MaxListLimit
	syncMembershipsPageSize = 200
	syncSearchPageSize      = hubspot.MaxSearchLimit
	// maxSyncFailuresKept bounds the failures kept for one run; the count
	// goes on.
	maxSyncFailuresKept = 1000
)

// SyncContactsPage runs pages of a sync's run, from page in.Page, for up
// to syncPagesPerActivity pages or syncActivityBudget: each page reads the
// next contacts from HubSpot (all contacts, the list's memberships, or the
// contacts modified since the watermark), makes each a member of the
// campaign through AddMembers (source sync, the contact's ID stored; a
// contact already a member by contact ID or email updates that member's
// names), writes the return fields back to the contacts that do not hold
// them yet in batches of 100, and commits the members, the run's counts,
// its failures and where the next page starts in one transaction.
//
// The next page is read while a page is written (a page's cursor follows
// from its read alone), so the portal's rate limit, not referflow's own
// work, sets the pace.
//
// Each transaction is guarded by the page number: a retry of pages that
// were committed returns the committed progress and does nothing, and a
// page that failed before its commit leaves nothing, so counts are exact.
// Members are added with the commit, after the write-back: a failed
// write-back leaves neither. Nobody is notified: synced members get no
// email and no member workflow (their contact is this one, and their return
// fields are written here).
func (h *HubSpot) SyncContactsPage(ctx context.Context, in SyncPage) (SyncProgress, error) {
	if h == nil || h.Queries == nil || h.Pool == nil {
		return SyncProgress{}, temporal.NewNonRetryableApplicationError("this worker's HubSpot activities have no database", ErrorTypeHubSpotNotConfigured, nil)
	}
	s, err := syncOf(ctx, h.Queries, in.SyncID)
	if err != nil {
		return SyncProgress{}, err
	}
	if int(s.RunPage) != in.Page {
		return progressOfSync(s), nil // committed by an earlier attempt
	}
	var cur contactsync.Cursor
	if err := json.Unmarshal(s.RunCursor, &cur); err != nil {
		return SyncProgress{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("sync %s has no run under way", s.ID), "InvalidInput", err)
	}
	if cur.Done {
		return progressOfSync(s), nil
	}
	var mapping contactsync.Mapping
	var returns contactsync.ReturnFields
	_ = json.Unmarshal(s.Mapping, &mapping)
	_ = json.Unmarshal(s.ReturnFields, &returns)
	if h.PublicURL == "" && len(returns) > 0 {
		return SyncProgress{}, temporal.NewNonRetryableApplicationError(
			"referral links cannot be written back: this worker has no public URL (REFERFLOW_PUBLIC_URL)", ErrorTypeHubSpotNotConfigured, nil)
	}
	c, err := h.client(ctx, s.WorkspaceID)
	if err != nil {
		return SyncProgress{}, err
	}
	if cur.Until.IsZero() && s.RunUntil != nil {
		cur.Until = s.RunUntil.UTC()
	}
	return h.runPages(ctx, c, s, cur, mapping, returns)
}

// runPages runs the pages of one activity as a pipeline: a reader reads
// page after page (each page's cursor follows from the last read alone);
// each page then makes its members (in page order, so two pages never wait
// on each other's rows), writes its return fields back while the next
// page makes its members, and commits after the page before it. Up to
// syncPagesInFlight pages are between reading and committing, so HubSpot's
// budget, not HubSpot's answer times or referflow's own work, sets the
// pace. The first failure stops the pipeline: the pages committed before
// it stay committed, and the retry goes on from them. Pages work under the
// activity's context; only the reader stops at the first failure.
func (h *HubSpot) runPages(ctx context.Context, c *hubspot.Client, s db.Sync, cur contactsync.Cursor, mapping contactsync.Mapping, returns contactsync.ReturnFields) (SyncProgress, error) {
	props := contactsync.Properties(mapping, returns)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	reads := make(chan syncRead, 1)
	go func() {
		defer close(reads)
		until := time.Now().Add(syncActivityBudget)
		for pages := 0; pages < syncPagesPerActivity && !cur.Done && time.Now().Before(until); pages++ {
			contacts, next, err := readSyncPage(pctx, c, s, cur, props)
			select {
			case reads <- syncRead{contacts, next, err}:
			case <-pctx.Done():
				return
			}
			if err != nil {
				return
			}
			cur = next
		}
	}()

	first := make(chan pageResult, 1)
	first <- pageResult{row: s}
	prevCommitted := (<-chan pageResult)(first)
	prevMembers := make(chan struct{})
	close(prevMembers)
	slots := make(chan struct{}, syncPagesInFlight)
	page := s.RunPage
	for r := range reads {
		if r.err != nil {
			stop()
			res := <-prevCommitted
			if res.err == nil && page == s.RunPage {
				return SyncProgress{}, syncReadError(r.err)
			}
			// The pages read before are in (or failed on their own);
			// the next attempt reads on from the last committed.
			return h.pagesDone(ctx, s, res)
		}
		slots <- struct{}{}
		membersDone := make(chan struct{})
		committed := make(chan pageResult, 1)
		go func(r syncRead, page int32, prevMembers <-chan struct{}, prevCommitted <-chan pageResult) {
			defer func() { <-slots }()
			p := &syncPage{sync: s, mapping: mapping, returns: returns, publicURL: h.PublicURL}
			row, err := p.commit(ctx, h.Pool, c, page, r, prevMembers, membersDone, prevCommitted)
			if err != nil {
				stop()
			}
			committed <- pageResult{row: row, err: err}
		}(r, page, prevMembers, prevCommitted)
		prevMembers, prevCommitted = membersDone, committed
		page++
	}
	return h.pagesDone(ctx, s, <-prevCommitted)
}

// pagesDone is the activity's answer once its last page committed or
// failed.
func (h *HubSpot) pagesDone(ctx context.Context, s db.Sync, res pageResult) (SyncProgress, error) {
	if errors.Is(res.err, errPageCommitted) {
		s, err := syncOf(ctx, h.Queries, s.ID.String())
		if err != nil {
			return SyncProgress{}, err
		}
		return progressOfSync(s), nil
	}
	if res.err != nil {
		return SyncProgress{}, hubspot.TemporalError(res.err)
	}
	return progressOfSync(res.row), nil
}

// syncPagesInFlight is how many pages are between their read and their
// commit at once: one makes its members while another's write-back waits
// on HubSpot.
const syncPagesInFlight = 3

// pageResult is a page's commit: the sync's row after it, or why not.
type pageResult struct {
	row db.Sync
	err error
}

// Pages one activity runs, at most: a few seconds of HubSpot's budget each,
// so the workflow's history stays short and a retry repeats little.
const (
	syncPagesPerActivity = 20
	syncActivityBudget   = time.Minute
)

// syncRead is one page read from HubSpot and where the next starts.
type syncRead struct {
	contacts []hubspot.Object
	next     contactsync.Cursor
	err      error
}

// commit makes the page's contacts members (after the page before it made
// its own: membersDone is closed then), writes their return fields back and
// records the page after the page before it committed (prevCommitted), in
// one transaction guarded by the page number (errPageCommitted: another
// attempt committed it first). A page before it that failed fails it too,
// leaving nothing.
func (p *syncPage) commit(ctx context.Context, pool *pgxpool.Pool, c *hubspot.Client, page int32, r syncRead,
	prevMembers <-chan struct{}, membersDone chan<- struct{}, prevCommitted <-chan pageResult) (db.Sync, error) {
	var committed db.Sync
	var once sync.Once
	signal := func() { once.Do(func() { close(membersDone) }) }
	defer signal()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		select {
		case <-prevMembers:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := p.members(ctx, tx, r.contacts); err != nil {
			return err
		}
		signal()
		if err := p.writeBack(ctx, c); err != nil {
			return err
		}
		var prev pageResult
		select {
		case prev = <-prevCommitted:
		case <-ctx.Done():
			return ctx.Err()
		}
		if prev.err != nil {
			return prev.err
		}
		q := db.New(tx)
		var total contactsync.Stats
		_ = json.Unmarshal(prev.row.LastRunStats, &total)
		keep := max(0, maxSyncFailuresKept-total.Failed)
		total.Add(p.stats)
		curJSON, _ := json.Marshal(r.next)
		statsJSON, _ := json.Marshal(total)
		row, err := q.SyncRecordPage(ctx, db.SyncRecordPageParams{ID: p.sync.ID, Page: page, Cursor: curJSON, Stats: statsJSON})
		if errors.Is(err, pgx.ErrNoRows) {
			return errPageCommitted
		}
		if err != nil {
			return fmt.Errorf("record page %d of sync %s: %w", page, p.sync.ID, err)
		}
		committed = row
		failures := p.failures
		if len(failures) > keep {
			failures = failures[:keep]
		}
		if len(failures) > 0 {
			if _, err := q.SyncFailureAdd(ctx, failures); err != nil {
				return fmt.Errorf("record the failures of sync %s: %w", p.sync.ID, err)
			}
		}
		return nil
	})
	return committed, err
}

// ErrorTypeSyncSourceRefused is the error type of a page HubSpot refuses to
// read for good: the list is gone, or a mapped property cannot be read. The
// run ends failed with HubSpot's reason; anything else makes it wait.
const ErrorTypeSyncSourceRefused = "SyncSourceRefused"

// syncReadError is a page read's error as the activity returns it.
func syncReadError(err error) error {
	var notFound *hubspot.NotFoundError
	var validation *hubspot.ValidationError
	if errors.As(err, &notFound) || errors.As(err, &validation) || errors.Is(err, hubspot.ErrInvalidRequest) {
		return temporal.NewNonRetryableApplicationError("HubSpot refused to read the contacts: "+err.Error(), ErrorTypeSyncSourceRefused, err)
	}
	return hubspot.TemporalError(err)
}

// errPageCommitted rolls back a page another attempt committed first.
var errPageCommitted = errors.New("the page was committed by another attempt")

// readSyncPage reads the contacts of the page at cur and says where the
// next page starts.
func readSyncPage(ctx context.Context, c *hubspot.Client, s db.Sync, cur contactsync.Cursor, props []string) ([]hubspot.Object, contactsync.Cursor, error) {
	next := cur
	switch cur.Phase {
	case contactsync.PhaseContacts:
		page, err := c.List(ctx, hubspot.Contacts, hubspot.ListOptions{Limit: syncContactsPageSize, After: cur.After, Properties: props})
		if err != nil {
			return nil, cur, err
		}
		next.After, next.Done = page.After, page.After == ""
		return page.Results, next, nil
	case contactsync.PhaseMemberships:
		listID := ""
		if s.ListID != nil {
			listID = *s.ListID
		}
		page, err := c.ListMemberships(ctx, listID, hubspot.MembershipOptions{Limit: syncMembershipsPageSize, After: cur.After})
		if err != nil {
			return nil, cur, err
		}
		next.After, next.Done = page.After, page.After == ""
		if len(page.Results) == 0 {
			return nil, next, nil
		}
		ids := make([]string, len(page.Results))
		for i, m := range page.Results {
			ids[i] = m.RecordID
		}
		// Contacts deleted since they joined the list come back as
		// errors (OBJECT_NOT_FOUND), not results: nothing to sync.
		read, err := c.BatchRead(ctx, hubspot.Contacts, ids, hubspot.BatchReadOptions{Properties: props})
		if err != nil {
			return nil, cur, err
		}
		return read.Results, next, nil
	case contactsync.PhaseSearch:
		return searchSyncPage(ctx, c, cur, props)
	}
	return nil, cur, temporal.NewNonRetryableApplicationError(fmt.Sprintf("sync %s: unknown phase %q", s.ID, cur.Phase), "InvalidInput", nil)
}

// searchSyncPage reads the next contacts modified since the watermark (see
// contactsync.Cursor): while Tied, those modified at exactly Since, by ID;
// then those modified after Since and up to Until, oldest first, from a
// fresh search each page.
func searchSyncPage(ctx context.Context, c *hubspot.Client, cur contactsync.Cursor, props []string) ([]hubspot.Object, contactsync.Cursor, error) {
	next := cur
	since := strconv.FormatInt(cur.Since.UnixMilli(), 10)
	until := strconv.FormatInt(cur.Until.UnixMilli(), 10)
	if cur.Tied {
		filters := []hubspot.Filter{{PropertyName: contactsync.PropLastModified, Operator: hubspot.OpEQ, Value: since}}
		if cur.AfterID != "" {
			filters = append(filters, hubspot.Filter{PropertyName: "hs_object_id", Operator: hubspot.OpGT, Value: cur.AfterID})
		}
		page, err := c.Search(ctx, hubspot.Contacts, hubspot.SearchRequest{
			FilterGroups: []hubspot.FilterGroup{{Filters: filters}},
			Sort:         &hubspot.Sort{PropertyName: "hs_object_id"},
			Properties:   props, Limit: syncSearchPageSize,
		})
		if err != nil {
			return nil, cur, err
		}
		if len(page.Results) > 0 {
			next.AfterID = page.Results[len(page.Results)-1].ID
		}
		if len(page.Results) < syncSearchPageSize {
			next.Tied, next.AfterID = false, ""
		}
		return page.Results, next, nil
	}
	page, err := c.Search(ctx, hubspot.Contacts, hubspot.SearchRequest{
		FilterGroups: []hubspot.FilterGroup{{Filters: []hubspot.Filter{
			{PropertyName: contactsync.PropLastModified, Operator: hubspot.OpGT, Value: since},
			{PropertyName: contactsync.PropLastModified, Operator: hubspot.OpLTE, Value: until},
		}}},
		Sort:       &hubspot.Sort{PropertyName: contactsync.PropLastModified},
		Properties: props, Limit: syncSearchPageSize,
	})
	if err != nil {
		return nil, cur, err
	}
	if len(page.Results) < syncSearchPageSize {
		next.Done = true
		return page.Results, next, nil
	}
	// The page may end in the middle of contacts sharing its last
	// modification time: the next page reads all of those by ID, then
	// goes on after it.
	last, ok := modifiedAt(page.Results[len(page.Results)-1])
	if !ok || !last.After(cur.Since) {
		return nil, cur, fmt.Errorf("%w: a contact of the search has no readable %s", hubspot.ErrInvalidRequest, contactsync.PropLastModified)
	}
	next.Since, next.Tied, next.AfterID = last, true, ""
	return page.Results, next, nil
}

// modifiedAt reads a contact's lastmodifieddate (ISO or epoch ms).
func modifiedAt(o hubspot.Object) (time.Time, bool) {
	v := o.Properties[contactsync.PropLastModified]
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), true
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	if !o.UpdatedAt.IsZero() {
		return o.UpdatedAt.UTC(), true
	}
	return time.Time{}, false
}

// syncPage is one page's work: the members of its contacts, what to write
// back to which contact, its counts and failures.
type syncPage struct {
	sync      db.Sync
	mapping   contactsync.Mapping
	returns   contactsync.ReturnFields
	publicURL string

	synced   []syncedContact
	stats    contactsync.Stats
	failures []db.SyncFailureAddParams
}

// syncedContact is a contact made (or found) a member.
type syncedContact struct {
	contact hubspot.Object
	member  db.Member
}

func (p *syncPage) fail(contactID, reason string) {
	p.stats.Failed++
	p.failures = append(p.failures, db.SyncFailureAddParams{
		SyncID: p.sync.ID, RunStartedAt: runStartedAt(p.sync), HubspotContactID: contactID, Reason: reason,
	})
}

// members makes each contact a member, in tx: a member linked to the
// contact, or with its email, is updated (names, the contact's ID); any
// other is added through AddMembers.
func (p *syncPage) members(ctx context.Context, tx pgx.Tx, contacts []hubspot.Object) error {
	p.stats.Pages, p.stats.Seen = 1, len(contacts)
	q := db.New(tx)
	ids := make([]int64, 0, len(contacts))
	for _, o := range contacts {
		if id, err := strconv.ParseInt(o.ID, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	linked, err := q.MemberListByHubSpotContacts(ctx, db.MemberListByHubSpotContactsParams{CampaignID: p.sync.CampaignID, HubspotContactIds: ids})
	if err != nil {
		return fmt.Errorf("find the members of a page's contacts: %w", err)
	}
	byContact := make(map[int64]db.Member, len(linked))
	for _, m := range linked {
		byContact[*m.HubspotContactID] = m
	}
	var adding []NewMember
	var addingContacts []hubspot.Object
	for _, o := range contacts {
		id, err := strconv.ParseInt(o.ID, 10, 64)
		if err != nil {
			p.fail(o.ID, "HubSpot gave a contact ID that is not a number")
			continue
		}
		email := strings.TrimSpace(o.Properties[p.mapping[contactsync.FieldEmail]])
		if m, ok := byContact[id]; ok {
			if err := p.update(ctx, q, o, m); err != nil {
				return err
			}
			continue
		}
		if email == "" {
			p.fail(o.ID, fmt.Sprintf("the contact has no %s (the email mapping's property)", p.mapping[contactsync.FieldEmail]))
			continue
		}
		adding = append(adding, NewMember{
			WorkspaceID: p.sync.WorkspaceID, CampaignID: p.sync.CampaignID, Email: email,
			FirstName: p.value(o, contactsync.FieldFirstName), LastName: p.value(o, contactsync.FieldLastName),
			ExternalID: p.value(o, contactsync.FieldExternalID), Source: referral.MemberSourceSync, HubSpotContactID: id,
		})
		addingContacts = append(addingContacts, o)
	}
	if len(adding) == 0 {
		return nil
	}
	added, err := AddMembers(ctx, tx, adding)
	if err != nil {
		return err
	}
	for i, a := range added {
		o := addingContacts[i]
		var dup *DuplicateMemberError
		var notActive *campaign.NotActiveError
		switch {
		case a.Err == nil:
			p.stats.Created++
			p.synced = append(p.synced, syncedContact{contact: o, member: a.Member})
		case errors.As(a.Err, &dup):
			if err := p.update(ctx, q, o, dup.Existing); err != nil {
				return err
			}
		case errors.As(a.Err, &notActive):
			p.fail(o.ID, "not added: "+notActive.Error())
		default:
			p.fail(o.ID, "not added: "+a.Err.Error())
		}
	}
	return nil
}

// value is the contact's value for a member field ("" when not mapped).
func (p *syncPage) value(o hubspot.Object, field string) string {
	prop, ok := p.mapping[field]
	if !ok {
		return ""
	}
	return strings.TrimSpace(o.Properties[prop])
}

// update takes the contact's names onto its member and links the contact.
func (p *syncPage) update(ctx context.Context, q *db.Queries, o hubspot.Object, m db.Member) error {
	id, _ := strconv.ParseInt(o.ID, 10, 64)
	first, last := p.value(o, contactsync.FieldFirstName), p.value(o, contactsync.FieldLastName)
	if _, ok := p.mapping[contactsync.FieldLastName]; !ok {
		last = deref(m.LastName)
	}
	updated, err := q.MemberUpdateFromContact(ctx, db.MemberUpdateFromContactParams{ID: m.ID, FirstName: first, LastName: last, HubspotContactID: &id})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		p.stats.Unchanged++
	case err != nil:
		return fmt.Errorf("update member %s from contact %s: %w", m.ID, o.ID, err)
	default:
		p.stats.Updated++
		m = updated
	}
	p.synced = append(p.synced, syncedContact{contact: o, member: m})
	return nil
}

// writeBack writes the return fields to the contacts that do not hold
// them yet, in batches of 100. A contact HubSpot refuses is a failure with
// HubSpot's reason; a batch HubSpot refuses as a whole (a property that
// does not exist) fails each of its contacts with the reason. Anything
// passing (a 429, HubSpot down) is returned: the page is retried.
func (p *syncPage) writeBack(ctx context.Context, c *hubspot.Client) error {
	var inputs []hubspot.UpdateInput
	for _, sc := range p.synced {
		want := p.returnValues(sc.member)
		changed := map[string]string{}
		for prop, v := range want {
			if sc.contact.Properties[prop] != v {
				changed[prop] = v
			}
		}
		if len(changed) > 0 {
			inputs = append(inputs, hubspot.UpdateInput{ID: sc.contact.ID, Properties: changed})
		}
	}
	for start := 0; start < len(inputs); start += hubspot.MaxBatchInputs {
		chunk := inputs[start:min(start+hubspot.MaxBatchInputs, len(inputs))]
		res, err := c.BatchUpdate(ctx, hubspot.Contacts, chunk)
		var validation *hubspot.ValidationError
		switch {
		case errors.As(err, &validation):
			for _, in := range chunk {
				p.fail(in.ID, "return fields not written: "+validation.Error())
			}
			continue
		case err != nil:
			return err
		}
		refused := map[string]string{}
		for _, e := range res.Errors {
			for _, id := range e.IDs() {
				refused[id] = e.Message
			}
		}
		for _, in := range chunk {
			if reason, ok := refused[in.ID]; ok {
				p.fail(in.ID, "return fields not written: "+reason)
				continue
			}
			p.stats.WrittenBack++
		}
	}
	return nil
}

// returnValues are the values of a member's return fields, by property.
func (p *syncPage) returnValues(m db.Member) map[string]string {
	out := make(map[string]string, len(p.returns))
	for field, prop := range p.returns {
		switch field {
		case contactsync.ReturnReferralLink:
			out[prop] = strings.TrimRight(p.publicURL, "/") + "/r/" + m.ReferralCode
		case contactsync.ReturnReferralCode:
			out[prop] = m.ReferralCode
		case contactsync.ReturnReferralCount:
			out[prop] = strconv.Itoa(int(m.ReferralCount))
		case contactsync.ReturnConvertedReferralCount:
			out[prop] = strconv.Itoa(int(m.ConvertedReferralCount))
		}
	}
	return out
}

// runStartedAt is when the sync's run under way started.
func runStartedAt(s db.Sync) time.Time {
	if s.LastRunStartedAt == nil {
		return time.Time{}
	}
	return *s.LastRunStartedAt
}
