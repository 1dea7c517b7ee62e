package hubspotsim

// The webhooks journal (2026-03): HubSpot's polled alternative to webhook
// deliveries, and the only way it reports records added to or removed from
// lists. An app authenticates with a client-credentials token (grant_type
// client_credentials at the token endpoint, with the journal scopes), keeps
// its subscriptions through /webhooks-journal/subscriptions/2026-03, and
// reads the journal through /webhooks-journal/journal[-local]/2026-03/...:
// each entry has an offset (a UUID) and a short-lived URL of a JSON file
// holding its events.
//
// What HubSpot's documentation leaves open, chosen here (and read the same
// way by internal/hubspot):
//   - the file is a JSON array of events, each {eventId, subscriptionId,
//     portalId, appId, occurredAt (epoch ms), subscriptionType
//     "LIST_MEMBERSHIP", action "ADDED_TO_LIST" or "REMOVED_FROM_LIST",
//     objectTypeId, objectId, listId};
//   - GET .../offset/{offset}/next with nothing newer answers 204 No
//     Content, the batch form an empty results array; an offset that is
//     unknown or older than the journal's 3 days answers 404;
//   - a count above 100 answers 400 (batch read takes at most 100 offsets);
//   - the upsert key of a subscription is (portalId, subscriptionType): a
//     second POST for a portal's LIST_MEMBERSHIP replaces its lists and
//     actions;
//   - journal calls naming a portal (the subscriptions' portalId, the local
//     journal's installPortalId) count against that portal's ten-secondly
//     limit and answer its rate-limit modes (stricter than the documented
//     exemption of batch reads from the standard limits, whose own journal
//     limit the documentation does not number); ModeJournalOutage answers
//     the journal's reads 503.
//
// Events are produced for lists a LIST_MEMBERSHIP subscription names, by
// comparing each such list's members after every change the simulator makes
// with those it had: a static list's additions and removals (API, Go
// helpers, the CRM page) and a dynamic list's records whose properties start
// or stop matching its filters alike. Members a list had when it was
// subscribed to make no events.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The webhooks journal's scopes (client-credentials tokens).
const (
	ScopeJournalRead               = "developer.webhooks_journal.read"
	ScopeJournalSubscriptionsRead  = "developer.webhooks_journal.subscriptions.read"
	ScopeJournalSubscriptionsWrite = "developer.webhooks_journal.subscriptions.write"
)

var journalScopes = []string{ScopeJournalRead, ScopeJournalSubscriptionsRead, ScopeJournalSubscriptionsWrite,
	"developer.webhooks_journal.snapshots.read", "developer.webhooks_journal.snapshots.write"}

// Journal subscription types and list-membership actions.
const (
	JournalListMembership  = "LIST_MEMBERSHIP"
	JournalAddedToList     = "ADDED_TO_LIST"
	JournalRemovedFromList = "REMOVED_FROM_LIST"
)

var journalSubscriptionTypes = []string{"OBJECT", "ASSOCIATION", "EVENT", "APP_LIFECYCLE_EVENT", JournalListMembership, "GDPR_PRIVACY_DELETION"}

const (
	// journalRetention is how far back the journal reaches ("the past 3 days").
	journalRetention = 72 * time.Hour
	// journalFileTTL is how long an entry's file URL works.
	journalFileTTL = 5 * time.Minute
	// maxJournalCount is the largest batch a journal read returns.
	maxJournalCount = 100
	// appTokenTTL is a client-credentials token's lifetime.
	appTokenTTL = 30 * time.Minute
)

// JournalSubscription is a subscription of the webhooks journal, as the
// subscriptions API shows it.
type JournalSubscription struct {
	ID                      int64     `json:"id"`
	AppID                   int64     `json:"appId"`
	PortalID                int64     `json:"portalId"`
	SubscriptionType        string    `json:"subscriptionType"`
	ObjectTypeID            string    `json:"objectTypeId"`
	Actions                 []string  `json:"actions"`
	ListIDs                 []int64   `json:"listIds"`
	ObjectIDs               []int64   `json:"objectIds"`
	Properties              []string  `json:"properties"`
	AssociatedObjectTypeIDs []string  `json:"associatedObjectTypeIds"`
	CreatedBy               int64     `json:"createdBy"`
	CreatedAt               time.Time `json:"createdAt"`
	UpdatedAt               time.Time `json:"updatedAt"`
}

// JournalEvent is one event of a journal entry's file.
type JournalEvent struct {
	EventID          int64  `json:"eventId"`
	SubscriptionID   int64  `json:"subscriptionId"`
	PortalID         int64  `json:"portalId"`
	AppID            int64  `json:"appId"`
	OccurredAt       int64  `json:"occurredAt"`
	SubscriptionType string `json:"subscriptionType"`
	Action           string `json:"action"`
	ObjectTypeID     string `json:"objectTypeId"`
	ObjectID         int64  `json:"objectId"`
	ListID           int64  `json:"listId"`
}

type journalSub struct {
	JournalSubscription
	// seen are the members of each subscribed list when last compared.
	seen map[int64]map[int64]bool
}

type journalEntry struct {
	offset   string
	portalID int64
	at       time.Time
	events   []JournalEvent
	file     string // the path segment of its file URL
}

type appToken struct {
	scopes  []string
	expires time.Time
}

// journal is the simulator's webhooks journal; guarded by Simulator.mu.
type journal struct {
	tokens    map[string]*appToken
	subs      map[int64]*journalSub
	nextSubID int64
	entries   []*journalEntry
	files     map[string]*journalEntry
	nextEvent int64
}

func newJournal() *journal {
	return &journal{tokens: map[string]*appToken{}, subs: map[int64]*journalSub{}, nextSubID: 1, files: map[string]*journalEntry{}, nextEvent: 1}
}

// issueAppToken answers grant_type=client_credentials: scope (space
// separated) must name journal scopes only. The caller holds s.mu and has
// checked the client's credentials.
func (s *Simulator) issueAppToken(w http.ResponseWriter, r *http.Request) {
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if len(scopes) == 0 {
		oauthErr(w, http.StatusBadRequest, "BAD_SCOPES", "invalid_scope", "scope is required for the client_credentials grant (e.g. "+ScopeJournalRead+")")
		return
	}
	for _, sc := range scopes {
		if !slices.Contains(journalScopes, sc) {
			oauthErr(w, http.StatusBadRequest, "BAD_SCOPES", "invalid_scope", fmt.Sprintf("scope %q cannot be granted to a client credentials token", sc))
			return
		}
	}
	tok := "cc-" + randomUUIDish()
	s.jn.tokens[tok] = &appToken{scopes: scopes, expires: s.now().Add(appTokenTTL)}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "bearer", "access_token": tok, "expires_in": int(appTokenTTL.Seconds()), "scopes": scopes,
	})
}

// journalReq is one authenticated journal or subscriptions API request.
type journalReq struct {
	s       *Simulator
	r       *http.Request
	body    []byte
	headers http.Header
}

type journalHandler func(c *journalReq) (int, any)

// journalAPI authenticates a client-credentials token with one of scopes,
// then runs h under the simulator's lock.
func (s *Simulator) journalAPI(scope string, h journalHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeErr(w, validationErr("cannot read request body"))
			return
		}
		c := &journalReq{s: s, r: r, body: body, headers: http.Header{}}
		var status int
		var payload any
		s.locked(func() {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			at := s.jn.tokens[strings.TrimSpace(tok)]
			switch {
			case !ok || at == nil:
				status, payload = errResult(credentialsNotFound())
			case !s.now().Before(at.expires):
				status, payload = errResult(newErr(http.StatusUnauthorized, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired."))
			case !slices.Contains(at.scopes, scope):
				status, payload = errResult(missingScopesErr([]string{scope}))
			default:
				status, payload = h(c)
			}
		})
		for k, v := range c.headers {
			w.Header()[k] = v
		}
		if e, ok := payload.(*apiError); ok {
			writeErr(w, e)
			return
		}
		writeJSON(w, status, payload)
	}
}

// admitPortal applies a portal's limits and modes to a journal call that
// names it; read says the call reads the journal (ModeJournalOutage).
func (c *journalReq) admitPortal(p *Portal, read bool) *apiError {
	if read {
		if m := p.modeLocked(ModeJournalOutage, c.s.now()); m != nil {
			m.answered()
			return injectedErr(http.StatusServiceUnavailable)
		}
	}
	e, _ := c.s.admit(p, &authInfo{portal: p, appID: c.s.opts.AppID}, false, c.headers)
	return e
}

func (s *Simulator) journalRoutes(mux *http.ServeMux) {
	subs := "/webhooks-journal/subscriptions/" + apiVersion
	mux.HandleFunc("GET "+subs, s.journalAPI(ScopeJournalSubscriptionsRead, hJournalSubList))
	mux.HandleFunc("POST "+subs, s.journalAPI(ScopeJournalSubscriptionsWrite, hJournalSubUpsert))
	mux.HandleFunc("GET "+subs+"/{subscriptionId}", s.journalAPI(ScopeJournalSubscriptionsRead, hJournalSubGet))
	mux.HandleFunc("DELETE "+subs+"/{subscriptionId}", s.journalAPI(ScopeJournalSubscriptionsWrite, hJournalSubDelete))
	for _, variant := range []string{"journal", "journal-local"} {
		base := "/webhooks-journal/" + variant + "/" + apiVersion
		local := variant == "journal-local"
		read := func(h func(c *journalReq, local bool) (int, any)) http.HandlerFunc {
			return s.journalAPI(ScopeJournalRead, func(c *journalReq) (int, any) { return h(c, local) })
		}
		mux.HandleFunc("GET "+base+"/earliest", read(hJournalEarliest))
		mux.HandleFunc("GET "+base+"/latest", read(hJournalLatest))
		mux.HandleFunc("GET "+base+"/offset/{offset}/next", read(hJournalNext))
		mux.HandleFunc("GET "+base+"/batch/earliest/{count}", read(hJournalBatchEarliest))
		mux.HandleFunc("GET "+base+"/batch/latest/{count}", read(hJournalBatchLatest))
		mux.HandleFunc("GET "+base+"/batch/{offset}/next/{count}", read(hJournalBatchNext))
		mux.HandleFunc("POST "+base+"/batch/read", read(hJournalBatchRead))
	}
	mux.HandleFunc("GET /webhooks-journal/files/{file}", s.hJournalFile)
}

func (c *journalReq) decode(v any) *apiError {
	if len(strings.TrimSpace(string(c.body))) == 0 {
		return validationErr("Invalid input JSON: the request body is empty")
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return invalidJSONErr(err)
	}
	return nil
}

type journalSubInput struct {
	SubscriptionType *string  `json:"subscriptionType"`
	PortalID         *int64   `json:"portalId"`
	Actions          []string `json:"actions"`
	ListIDs          []int64  `json:"listIds"`
	ObjectIDs        *[]int64 `json:"objectIds"`
}

// POST /webhooks-journal/subscriptions/2026-03: create, or update the
// portal's subscription of that type.
func hJournalSubUpsert(c *journalReq) (int, any) {
	var in journalSubInput
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	switch {
	case in.SubscriptionType == nil:
		return errResult(validationErr("subscriptionType is required"))
	case !slices.Contains(journalSubscriptionTypes, *in.SubscriptionType):
		return errResult(validationErr(fmt.Sprintf("subscriptionType must be one of %s, got %q", strings.Join(journalSubscriptionTypes, ", "), *in.SubscriptionType)))
	case *in.SubscriptionType != JournalListMembership:
		return errResult(validationErr(fmt.Sprintf("subscriptionType %s is not simulated: only %s is", *in.SubscriptionType, JournalListMembership)))
	case in.PortalID == nil:
		return errResult(validationErr("portalId is required"))
	case len(in.ListIDs) == 0:
		return errResult(validationErr("listIds is required: at least one list"))
	case in.ObjectIDs == nil:
		return errResult(validationErr("objectIds is required (an empty array for every record)"))
	case len(in.Actions) == 0:
		return errResult(validationErr("actions is required"))
	}
	for _, a := range in.Actions {
		if a != JournalAddedToList && a != JournalRemovedFromList {
			return errResult(validationErr(fmt.Sprintf("actions of a %s subscription must be %s or %s, got %q", JournalListMembership, JournalAddedToList, JournalRemovedFromList, a)))
		}
	}
	p := c.s.portals[*in.PortalID]
	if p == nil {
		return errResult(validationErr(fmt.Sprintf("portalId %d: the app is not installed in that account", *in.PortalID)))
	}
	if e := c.admitPortal(p, false); e != nil {
		return errResult(e)
	}
	for _, id := range in.ListIDs {
		if p.lists[id] == nil {
			return errResult(validationErr(fmt.Sprintf("listIds: list %d does not exist in account %d", id, p.ID)))
		}
	}
	now := c.s.now()
	var sub *journalSub
	for _, x := range c.s.jn.subs {
		if x.PortalID == p.ID && x.SubscriptionType == JournalListMembership {
			sub = x
		}
	}
	status := http.StatusOK
	if sub == nil {
		sub = &journalSub{JournalSubscription: JournalSubscription{ID: c.s.jn.nextSubID, AppID: c.s.opts.AppID, PortalID: p.ID,
			SubscriptionType: JournalListMembership, ObjectTypeID: "0-1", CreatedAt: now}, seen: map[int64]map[int64]bool{}}
		c.s.jn.nextSubID++
		c.s.jn.subs[sub.ID] = sub
		status = http.StatusCreated
	}
	sub.Actions = slices.Clone(in.Actions)
	sub.ListIDs = slices.Clone(in.ListIDs)
	sub.ObjectIDs = slices.Clone(*in.ObjectIDs)
	sub.UpdatedAt = now
	// Lists newly subscribed to start from their members now.
	for id := range sub.seen {
		if !slices.Contains(sub.ListIDs, id) {
			delete(sub.seen, id)
		}
	}
	for _, id := range sub.ListIDs {
		if _, ok := sub.seen[id]; !ok {
			sub.seen[id] = memberSet(p, p.lists[id])
		}
	}
	return status, subscriptionJSONOf(sub)
}

func subscriptionJSONOf(sub *journalSub) JournalSubscription {
	out := sub.JournalSubscription
	out.Actions, out.ListIDs, out.ObjectIDs = nonNil(out.Actions), nonNil(out.ListIDs), nonNil(out.ObjectIDs)
	out.Properties, out.AssociatedObjectTypeIDs = nonNil(out.Properties), nonNil(out.AssociatedObjectTypeIDs)
	return out
}

func hJournalSubList(c *journalReq) (int, any) {
	results := []JournalSubscription{}
	for _, id := range sortedKeys(c.s.jn.subs) {
		results = append(results, subscriptionJSONOf(c.s.jn.subs[id]))
	}
	return http.StatusOK, map[string]any{"results": results}
}

func (c *journalReq) subParam() (*journalSub, *apiError) {
	raw := c.r.PathValue("subscriptionId")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return nil, validationErr(fmt.Sprintf("subscriptionId must be an integer, got %q", raw))
	}
	sub := c.s.jn.subs[id]
	if sub == nil {
		return nil, notFoundErr(fmt.Sprintf("No subscription with ID %d exists", id))
	}
	return sub, nil
}

func hJournalSubGet(c *journalReq) (int, any) {
	sub, e := c.subParam()
	if e != nil {
		return errResult(e)
	}
	return http.StatusOK, subscriptionJSONOf(sub)
}

func hJournalSubDelete(c *journalReq) (int, any) {
	sub, e := c.subParam()
	if e != nil {
		return errResult(e)
	}
	delete(c.s.jn.subs, sub.ID)
	return http.StatusNoContent, nil
}

// memberSet is a list's current members.
func memberSet(p *Portal, l *list) map[int64]bool {
	out := map[int64]bool{}
	if l == nil {
		return out
	}
	for id := range p.memberIDs(l) {
		out[id] = true
	}
	return out
}

// journalSyncLocked compares every subscribed list's members with those it
// had and writes one journal entry per portal for what changed. The caller
// holds s.mu.
func (s *Simulator) journalSyncLocked() {
	if len(s.jn.subs) == 0 {
		return
	}
	now := s.now()
	byPortal := map[int64][]JournalEvent{}
	for _, subID := range sortedKeys(s.jn.subs) {
		sub := s.jn.subs[subID]
		p := s.portals[sub.PortalID]
		if p == nil {
			continue
		}
		for _, listID := range sub.ListIDs {
			l := p.lists[listID]
			members := memberSet(p, l)
			was := sub.seen[listID]
			emit := func(objectID int64, action string) {
				if !slices.Contains(sub.Actions, action) || (len(sub.ObjectIDs) > 0 && !slices.Contains(sub.ObjectIDs, objectID)) {
					return
				}
				byPortal[p.ID] = append(byPortal[p.ID], JournalEvent{
					SubscriptionID: sub.ID, PortalID: p.ID, AppID: sub.AppID,
					SubscriptionType: JournalListMembership, Action: action, ObjectTypeID: "0-1", ObjectID: objectID, ListID: listID,
				})
			}
			for _, id := range sortedKeys(members) {
				if !was[id] {
					emit(id, JournalAddedToList)
				}
			}
			for _, id := range sortedKeys(was) {
				if !members[id] {
					emit(id, JournalRemovedFromList)
				}
			}
			sub.seen[listID] = members
		}
	}
	for _, portalID := range sortedKeys(byPortal) {
		evs := byPortal[portalID]
		for i := range evs {
			evs[i].EventID = s.jn.nextEvent
			evs[i].OccurredAt = now.UnixMilli()
			s.jn.nextEvent++
		}
		e := &journalEntry{offset: randomUUIDish(), portalID: portalID, at: now, events: evs, file: randomHex(16)}
		s.jn.entries = append(s.jn.entries, e)
		s.jn.files[e.file] = e
	}
	// Entries older than the journal's reach are gone.
	cut := 0
	for cut < len(s.jn.entries) && now.Sub(s.jn.entries[cut].at) > journalRetention {
		delete(s.jn.files, s.jn.entries[cut].file)
		cut++
	}
	s.jn.entries = s.jn.entries[cut:]
}

// visible are the entries a read sees: all of them on the global journal;
// the installPortalId's on the local journal when it names one. It also
// applies that portal's limits and modes.
func (c *journalReq) visible(local bool) ([]*journalEntry, *apiError) {
	raw := c.r.URL.Query().Get("installPortalId")
	if !local || raw == "" {
		return c.s.jn.entries, nil
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return nil, validationErr(fmt.Sprintf("installPortalId must be an integer, got %q", raw))
	}
	p := c.s.portals[id]
	if p == nil {
		return nil, validationErr(fmt.Sprintf("installPortalId %d: the app is not installed in that account", id))
	}
	if e := c.admitPortal(p, true); e != nil {
		return nil, e
	}
	var out []*journalEntry
	for _, e := range c.s.jn.entries {
		if e.portalID == id {
			out = append(out, e)
		}
	}
	return out, nil
}

// fetchJSON is one entry as the read endpoints answer it.
func (c *journalReq) fetchJSON(e *journalEntry) map[string]any {
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return map[string]any{
		"currentOffset": e.offset,
		"expiresAt":     hsTime(c.s.now().Add(journalFileTTL)),
		"url":           scheme + "://" + c.r.Host + "/webhooks-journal/files/" + e.file + "?expires=" + strconv.FormatInt(c.s.now().Add(journalFileTTL).UnixMilli(), 10),
	}
}

func (c *journalReq) batchJSON(es []*journalEntry) map[string]any {
	now := hsTime(c.s.now())
	results := make([]map[string]any, 0, len(es))
	for _, e := range es {
		results = append(results, c.fetchJSON(e))
	}
	return map[string]any{"status": "COMPLETE", "results": results, "requestedAt": now, "startedAt": now, "completedAt": now}
}

func emptyJournal() *apiError {
	return notFoundErr("The journal has no entries for this app")
}

func hJournalEarliest(c *journalReq, local bool) (int, any) {
	es, e := c.visible(local)
	if e != nil {
		return errResult(e)
	}
	if len(es) == 0 {
		return errResult(emptyJournal())
	}
	return http.StatusOK, c.fetchJSON(es[0])
}

func hJournalLatest(c *journalReq, local bool) (int, any) {
	es, e := c.visible(local)
	if e != nil {
		return errResult(e)
	}
	if len(es) == 0 {
		return errResult(emptyJournal())
	}
	return http.StatusOK, c.fetchJSON(es[len(es)-1])
}

// after returns the entries after offset among es; an offset that is not
// (or no longer) in the journal is a 404.
func after(es []*journalEntry, offset string) ([]*journalEntry, *apiError) {
	i := slices.IndexFunc(es, func(e *journalEntry) bool { return e.offset == offset })
	if i < 0 {
		return nil, notFoundErr(fmt.Sprintf("Offset %s does not exist or has expired", offset))
	}
	return es[i+1:], nil
}

func hJournalNext(c *journalReq, local bool) (int, any) {
	es, e := c.visible(local)
	if e != nil {
		return errResult(e)
	}
	rest, e := after(es, c.r.PathValue("offset"))
	if e != nil {
		return errResult(e)
	}
	if len(rest) == 0 {
		return http.StatusNoContent, nil
	}
	return http.StatusOK, c.fetchJSON(rest[0])
}

func (c *journalReq) count() (int, *apiError) {
	raw := c.r.PathValue("count")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, validationErr(fmt.Sprintf("count must be an integer of at least 1, got %q", raw))
	}
	if n > maxJournalCount {
		return 0, validationErr(fmt.Sprintf("count must be at most %d, got %d", maxJournalCount, n))
	}
	return n, nil
}

func hJournalBatchEarliest(c *journalReq, local bool) (int, any) {
	n, e := c.count()
	if e != nil {
		return errResult(e)
	}
	es, e := c.visible(local)
	if e != nil {
		return errResult(e)
	}
	return http.StatusOK, c.batchJSON(es[:min(n, len(es))])
}

func hJournalBatchLatest(c *journalReq, local bool) (int, any) {
	n, e := c.count()
	if e != nil {
		return errResult(e)
	}
	es, e := c.visible(local)
	if e != nil {
		return errResult(e)
	}
	return http.StatusOK, c.batchJSON(es[max(0, len(es)-n):])
}

func hJournalBatchNext(c *journalReq, local bool) (int, any) {
	n, e := c.count()
	if e != nil {
		return errResult(e)
	}
	es, e := c.visible(local)
	if e != nil {
		return errResult(e)
	}
	rest, e := after(es, c.r.PathValue("offset"))
	if e != nil {
		return errResult(e)
	}
	return http.StatusOK, c.batchJSON(rest[:min(n, len(rest))])
}

// POST .../batch/read {"inputs":["offset", ...]}: offsets that cannot be
// read are listed in errors, the others answered.
func hJournalBatchRead(c *journalReq, local bool) (int, any) {
	var in struct {
		Inputs []string `json:"inputs"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	if len(in.Inputs) == 0 {
		return errResult(validationErr("inputs is required"))
	}
	if e := batchSizeErr(len(in.Inputs), maxJournalCount); e != nil {
		return errResult(e)
	}
	es, e := c.visible(local)
	if e != nil {
		return errResult(e)
	}
	var found []*journalEntry
	var errs []map[string]any
	for _, off := range in.Inputs {
		i := slices.IndexFunc(es, func(e *journalEntry) bool { return e.offset == off })
		if i < 0 {
			errs = append(errs, map[string]any{"status": "error", "category": "OBJECT_NOT_FOUND", "message": fmt.Sprintf("Offset %s does not exist or has expired", off), "context": map[string][]string{"offset": {off}}})
			continue
		}
		found = append(found, es[i])
	}
	body := c.batchJSON(found)
	status := http.StatusOK
	if len(errs) > 0 {
		body["errors"], body["numErrors"] = errs, len(errs)
		status = http.StatusMultiStatus
	}
	return status, body
}

// GET /webhooks-journal/files/{file}?expires=: an entry's file, as a
// pre-signed URL serves it: no Authorization, refused once expired.
func (s *Simulator) hJournalFile(w http.ResponseWriter, r *http.Request) {
	exp, _ := strconv.ParseInt(r.URL.Query().Get("expires"), 10, 64)
	s.mu.Lock()
	e := s.jn.files[r.PathValue("file")]
	expired := s.now().UnixMilli() > exp
	var evs []JournalEvent
	if e != nil {
		evs = slices.Clone(e.events)
	}
	s.mu.Unlock()
	switch {
	case e == nil:
		http.Error(w, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>", http.StatusNotFound)
	case expired:
		http.Error(w, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", http.StatusForbidden)
	default:
		writeJSON(w, http.StatusOK, nonNil(evs))
	}
}

// JournalSubscriptions returns the journal subscriptions of a portal.
func (s *Simulator) JournalSubscriptions(portalID int64) []JournalSubscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []JournalSubscription
	for _, id := range sortedKeys(s.jn.subs) {
		if sub := s.jn.subs[id]; sub.PortalID == portalID {
			out = append(out, subscriptionJSONOf(sub))
		}
	}
	return out
}

// JournalEvents returns every event the journal holds for a portal, oldest
// first.
func (s *Simulator) JournalEvents(portalID int64) []JournalEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []JournalEvent
	for _, e := range s.jn.entries {
		if e.portalID == portalID {
			out = append(out, e.events...)
		}
	}
	return out
}
