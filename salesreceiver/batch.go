package salesreceiver

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
)

// dispatchOnce claims one batch of due entries, routes it and records the
// outcomes, all in one transaction: the claimed rows stay locked while they
// are routed (no other dispatcher takes them, and a sales-entry workflow
// that writes its result waits until the start is recorded) and are
// released when the outcomes are written. It reports whether the batch was
// full, that is whether more entries may be due.
func (d *Dispatcher) dispatchOnce(ctx context.Context) (full bool) {
	// Bounds, so a Postgres that stopped answering mid-batch cannot hold
	// the dispatcher forever: routing gets a share, recording the rest.
	ctx, cancel := context.WithTimeout(ctx, 2*d.CallTimeout+time.Minute)
	defer cancel()
	tx, err := d.Pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		d.Logger.Warn("sales receiver: cannot reach Postgres to claim entries; will retry", "error", err)
		return false
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := db.New(tx)
	rows, err := q.SalesEntryClaimBatch(ctx, int32(d.BatchSize))
	if err != nil {
		d.Logger.Warn("sales receiver: claiming due entries failed; will retry", "error", err)
		return false
	}
	if len(rows) == 0 {
		return false
	}
	start := time.Now()
	routeCtx, cancelRoute := context.WithTimeout(ctx, d.CallTimeout+30*time.Second)
	outcomes := d.routeBatch(routeCtx, q, rows)
	cancelRoute()
	if err := d.record(ctx, q, rows, outcomes); err != nil {
		d.Logger.Warn("sales receiver: recording routed entries failed; they will be routed again", "entries", len(rows), "error", err)
		return false
	}
	if err := tx.Commit(ctx); err != nil {
		d.Logger.Warn("sales receiver: committing routed entries failed; they will be routed again", "entries", len(rows), "error", err)
		return false
	}
	d.logBatch(rows, outcomes, time.Since(start))
	return len(rows) == d.BatchSize
}

// record writes the outcomes: dispatched entries with their status and
// actions, deferred ones with their error and next attempt.
func (d *Dispatcher) record(ctx context.Context, q *db.Queries, rows []db.SalesEntry, outcomes []outcome) error {
	var done db.SalesEntryMarkDispatchedParams
	var later db.SalesEntryDeferParams
	for _, o := range outcomes {
		if o.deferred {
			later.Ids = append(later.Ids, o.id)
			later.Errors = append(later.Errors, o.err)
			later.DelaysMs = append(later.DelaysMs, o.delay.Milliseconds())
			attempted := int32(0)
			if o.attempted {
				attempted = 1
			}
			later.Attempted = append(later.Attempted, attempted)
			continue
		}
		done.Ids = append(done.Ids, o.id)
		done.Statuses = append(done.Statuses, string(o.status))
		done.ReferralIds = append(done.ReferralIds, uuidText(o.referralID))
		done.CampaignIds = append(done.CampaignIds, uuidText(o.campaignID))
		done.Actions = append(done.Actions, o.actionsJSON())
		done.Errors = append(done.Errors, o.reason)
		done.WorkflowIds = append(done.WorkflowIds, o.workflowID)
	}
	if len(done.Ids) > 0 {
		if err := q.SalesEntryMarkDispatched(ctx, done); err != nil {
			return fmt.Errorf("mark %d entries dispatched: %w", len(done.Ids), err)
		}
	}
	if len(later.Ids) > 0 {
		if err := q.SalesEntryDefer(ctx, later); err != nil {
			return fmt.Errorf("defer %d entries: %w", len(later.Ids), err)
		}
	}
	return nil
}

func uuidText(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// referralRef is a referral found through an object it holds.
type referralRef struct {
	ID         uuid.UUID
	CampaignID uuid.UUID
	CreatedAt  time.Time
}

// item is one claimed entry on its way through routing.
type item struct {
	ev   event
	refs map[hubspotobject.Ref][]referralRef
	out  *outcome
}

// routeBatch decides every claimed entry. What needs no Temporal call is
// decided here (unreadable, unconnected portal, unused property); the rest
// is grouped by referral and routed group by group, groups concurrently and
// the entries of a group one after the other in occurredAt order.
func (d *Dispatcher) routeBatch(ctx context.Context, q *db.Queries, rows []db.SalesEntry) []outcome {
	outcomes := make([]outcome, len(rows))
	waiting, err := d.olderWaiting(ctx, q, rows)
	if err != nil {
		for i, row := range rows {
			outcomes[i] = outcome{id: row.ID, deferred: true, attempted: true,
				err:   fmt.Sprintf("look up older entries of the same objects: %v", err),
				delay: backoff(int(row.DispatchAttempts)+1, d.MinBackoff, d.MaxBackoff)}
		}
		return outcomes
	}
	var pending []*item
	workspaces := map[uuid.UUID]bool{}
	for i, row := range rows {
		o := &outcomes[i]
		o.id = row.ID
		ev, err := readEvent(row)
		older, isWaiting := waiting[row.ID]
		switch {
		case isWaiting:
			*o = outcome{id: row.ID, deferred: true, delay: max(time.Until(older.NextDispatchAt), 0) + d.MinBackoff/10,
				err: fmt.Sprintf("waits for sales entry %d of the same object, which is not routed yet", older.ID)}
		case err != nil:
			o.status, o.reason = salesentry.Failed, err.Error()
			o.act(salesentry.StepFailed, "cannot be routed: "+err.Error(), nil)
		case row.WorkspaceID == nil:
			o.status = salesentry.Ignored
			o.act(salesentry.StepIgnored, fmt.Sprintf("portal %d is not connected to a workspace", row.PortalID), nil)
		default:
			pending = append(pending, &item{ev: ev, out: o})
			workspaces[*row.WorkspaceID] = true
		}
	}
	if len(pending) == 0 {
		return outcomes
	}

	rules, err := loadRules(ctx, q, d.Logger, workspaces)
	if err != nil {
		d.deferAll(pending, fmt.Sprintf("load the workspaces' campaigns: %v", err))
		return outcomes
	}
	var routable []*item
	for _, it := range pending {
		row := it.ev.row
		if it.ev.entry.Kind() == salesentry.PropertyChange && !rules.uses(*row.WorkspaceID, it.ev.entry.ObjectType, *row.PropertyName) {
			it.out.status = salesentry.Ignored
			it.out.act(salesentry.StepIgnored, noRuleReads(it.ev.entry.ObjectType, *row.PropertyName), nil)
			continue
		}
		routable = append(routable, it)
	}
	if err := resolve(ctx, q, routable); err != nil {
		d.deferAll(routable, fmt.Sprintf("look up the referrals of the entries' objects: %v", err))
		return outcomes
	}

	b := &batch{}
	sem := make(chan struct{}, d.Concurrency)
	var wg sync.WaitGroup
	for _, group := range groupByReferral(routable) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.routeGroup(ctx, b, group)
		}()
	}
	wg.Wait()
	return outcomes
}

// routeGroup routes the entries of one referral (or one unknown object) in
// order. When one cannot be routed now, those after it wait with it, so
// they still reach the workflow after it.
func (d *Dispatcher) routeGroup(ctx context.Context, b *batch, group []*item) {
	for i, it := range group {
		d.route(ctx, b, it)
		if !it.out.deferred {
			continue
		}
		for _, later := range group[i+1:] {
			*later.out = outcome{
				id: later.ev.row.ID, deferred: true, delay: it.out.delay,
				err: fmt.Sprintf("waits for sales entry %d of the same referral or object, which could not be routed yet", it.ev.row.ID),
			}
		}
		return
	}
}

// olderWaiting finds the claimed entries of an object whose older entry is
// undispatched outside this batch (deferred after a failure, or claimed by
// another dispatcher): they wait for it, so a referral gets an object's
// changes in occurredAt order even across an outage.
func (d *Dispatcher) olderWaiting(ctx context.Context, q *db.Queries, rows []db.SalesEntry) (map[int64]db.SalesEntryListOldestUndispatchedRow, error) {
	type key struct {
		portal     int64
		objectType string
		objectID   int64
	}
	claimed := map[int64]bool{}
	seen := map[key]bool{}
	var params db.SalesEntryListOldestUndispatchedParams
	for _, row := range rows {
		claimed[row.ID] = true
		k := key{row.PortalID, row.ObjectType, row.ObjectID}
		if !seen[k] {
			seen[k] = true
			params.PortalIds = append(params.PortalIds, k.portal)
			params.ObjectTypes = append(params.ObjectTypes, k.objectType)
			params.ObjectIds = append(params.ObjectIds, k.objectID)
		}
	}
	oldest, err := q.SalesEntryListOldestUndispatched(ctx, params)
	if err != nil {
		return nil, err
	}
	byObject := map[key]db.SalesEntryListOldestUndispatchedRow{}
	for _, o := range oldest {
		if !claimed[o.ID] {
			byObject[key{o.PortalID, o.ObjectType, o.ObjectID}] = o
		}
	}
	waiting := map[int64]db.SalesEntryListOldestUndispatchedRow{}
	for _, row := range rows {
		o, ok := byObject[key{row.PortalID, row.ObjectType, row.ObjectID}]
		if ok && (o.OccurredAt.Before(row.OccurredAt) || (o.OccurredAt.Equal(row.OccurredAt) && o.ID < row.ID)) {
			waiting[row.ID] = o
		}
	}
	return waiting, nil
}

// deferAll defers entries after a failure that concerned them all.
func (d *Dispatcher) deferAll(items []*item, reason string) {
	for _, it := range items {
		d.deferOutcome(it, reason)
	}
}

// deferOutcome leaves an entry for another attempt after its backoff.
func (d *Dispatcher) deferOutcome(it *item, reason string) {
	failed := int(it.ev.row.DispatchAttempts) + 1
	*it.out = outcome{
		id: it.ev.row.ID, deferred: true, attempted: true, err: reason,
		delay: backoff(failed, d.MinBackoff, d.MaxBackoff),
	}
}

// workspaceRules are the settings of the batch's workspaces' campaigns.
type workspaceRules struct {
	settings map[uuid.UUID][]campaign.Settings
	// unreadable marks workspaces with a campaign whose settings cannot be
	// read: their property changes are all routed, none ignored on a guess.
	unreadable map[uuid.UUID]bool
}

// loadRules reads the settings of every campaign (but archived ones) of the
// workspaces.
func loadRules(ctx context.Context, q *db.Queries, logger *slog.Logger, workspaces map[uuid.UUID]bool) (workspaceRules, error) {
	ids := make([]uuid.UUID, 0, len(workspaces))
	for id := range workspaces {
		ids = append(ids, id)
	}
	rules := workspaceRules{settings: map[uuid.UUID][]campaign.Settings{}, unreadable: map[uuid.UUID]bool{}}
	rows, err := q.CampaignListUnarchivedOfWorkspaces(ctx, ids)
	if err != nil {
		return rules, err
	}
	for _, c := range rows {
		s, err := activities.CampaignSettings(c)
		if err != nil {
			logger.Warn("sales receiver: a campaign's settings are unreadable; every property change of its workspace is routed", "campaign_id", c.ID, "error", err)
			rules.unreadable[c.WorkspaceID] = true
			continue
		}
		rules.settings[c.WorkspaceID] = append(rules.settings[c.WorkspaceID], s)
	}
	return rules, nil
}

// uses tells whether a campaign of the workspace reads the property.
func (r workspaceRules) uses(ws uuid.UUID, object hubspotobject.Type, property string) bool {
	if r.unreadable[ws] {
		return true
	}
	for _, s := range r.settings[ws] {
		if s.UsesProperty(object, property) {
			return true
		}
	}
	return false
}

// resolve finds the referrals holding each entry's objects, in one query.
func resolve(ctx context.Context, q *db.Queries, items []*item) error {
	var params db.ReferralListByHubSpotObjectsParams
	type slot struct {
		it  *item
		obj hubspotobject.Ref
	}
	var slots []slot
	for _, it := range items {
		it.refs = map[hubspotobject.Ref][]referralRef{}
		for _, obj := range it.ev.lookups() {
			params.WorkspaceIds = append(params.WorkspaceIds, *it.ev.row.WorkspaceID)
			params.ObjectTypes = append(params.ObjectTypes, string(obj.Type))
			params.ObjectIds = append(params.ObjectIds, obj.ID)
			slots = append(slots, slot{it, obj})
		}
	}
	if len(slots) == 0 {
		return nil
	}
	found, err := q.ReferralListByHubSpotObjects(ctx, params)
	if err != nil {
		return err
	}
	for _, f := range found {
		s := slots[f.Lookup-1]
		s.it.refs[s.obj] = append(s.it.refs[s.obj], referralRef{ID: f.ID, CampaignID: f.CampaignID, CreatedAt: f.CreatedAt})
	}
	return nil
}

// groupByReferral puts entries that concern a common referral (or, for
// objects no referral holds, a common object) in one group, keeping the
// claim order (occurredAt, id) within each group.
func groupByReferral(items []*item) [][]*item {
	parent := make([]int, len(items))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	join := func(key string, i int) {
		if j, ok := owner[key]; ok {
			parent[find(i)] = find(j)
			return
		}
		owner[key] = i
	}
	for i, it := range items {
		ws := it.ev.row.WorkspaceID.String()
		for _, obj := range it.ev.lookups() {
			join(ws+"/"+obj.String(), i)
			for _, r := range it.refs[obj] {
				join("referral/"+r.ID.String(), i)
			}
		}
		if len(it.ev.lookups()) == 0 {
			join(ws+"/"+it.ev.entry.Object().String(), i)
		}
	}
	byRoot := map[int][]*item{}
	var roots []int
	for i, it := range items {
		r := find(i)
		if _, ok := byRoot[r]; !ok {
			roots = append(roots, r)
		}
		byRoot[r] = append(byRoot[r], it)
	}
	sort.Ints(roots)
	groups := make([][]*item, 0, len(roots))
	for _, r := range roots {
		groups = append(groups, byRoot[r])
	}
	return groups
}
