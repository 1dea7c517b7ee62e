package hubspotsim

// The simulator's state on disk. HubSpot never forgets a portal, a token or
// an undelivered webhook when it restarts, so a simulator run as its own
// process (`referflow hubspot-sim --state-file`) must not either: SaveState
// writes everything a restart would lose — portals with their records,
// properties, pipelines, associations and lists, their time zone,
// misbehaviour modes in force and call log; OAuth tokens and codes; the change
// log; webhook settings, the events not yet delivered and the log of
// deliveries — and LoadState puts it back into a new simulator, whose
// delivery then resumes where the last one stopped. Rate-limit windows are
// not kept: a restart starts them afresh.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// stateVersion is the format of the state file; LoadState refuses others.
const stateVersion = 1

type simState struct {
	Version       int
	NextPortalID  int64
	Portals       []portalState
	AccessTokens  []accessTokenState
	RefreshTokens []refreshTokenState
	AuthCodes     []authCodeState
	ChangeSeq     int64
	Changes       []Change
	Webhooks      webhooksState
}

type portalState struct {
	ID              int64
	Name            string
	PrivateAppToken string
	// TimeZone is the zone's name (time.LoadLocation reads it back).
	TimeZone       string
	Objects        map[string]objectStoreState
	Properties     map[string][]propertyState
	Groups         map[string][]*propertyGroup
	Pipelines      []*pipeline
	Associations   []assocState
	Labels         []labelState `json:",omitempty"`
	NextLabelID    int          `json:",omitempty"`
	Lists          []listState
	NextListID     int64
	NextPipelineID int64
	Requests       int
	Calls          []Call
	Modes          []modeState
	TokenEpoch     int
}

type modeState struct {
	Mode         *Mode
	RevokedEpoch int
}

type objectStoreState struct {
	NextID  int64
	Objects []objectState
}

type objectState struct {
	ID         int64
	Props      map[string]string
	Created    time.Time
	Updated    time.Time
	Archived   bool      `json:",omitempty"`
	ArchivedAt time.Time `json:",omitzero"`
	MergedInto int64     `json:",omitempty"`
}

type propertyState struct {
	Definition       *property
	Created, Updated time.Time
}

type assocState struct {
	FromType string
	FromID   int64
	ToType   string
	ToID     int64
	Types    []int
}

type listState struct {
	ID             int64
	Name           string
	ObjectType     string
	ProcessingType string
	FilterBranch   *filterBranch   `json:",omitempty"`
	RawFilter      json.RawMessage `json:",omitempty"`
	Members        map[int64]time.Time
	Created        time.Time
	Updated        time.Time
	Version        int
}

type accessTokenState struct {
	Token    string
	PortalID int64
	Scopes   []string
	Expires  time.Time
	Refresh  string
	Revoked  bool
	Epoch    int
}

type refreshTokenState struct {
	Token    string
	PortalID int64
	Scopes   []string
	ClientID string
	Revoked  bool
	Epoch    int
}

type authCodeState struct {
	Code        string
	PortalID    int64
	Scopes      []string
	RedirectURI string
	Expires     time.Time
	Used        bool
}

type webhooksState struct {
	Settings  WebhookSettings
	NextSubID int64
	// LastEventIDs is each portal's last event ID, so IDs never repeat
	// across a restart.
	LastEventIDs map[int64]int64
	// Undelivered are the batches not yet delivered nor given up on, with
	// the attempt each is at; events collected but not yet batched are one
	// more batch at attempt 0.
	Undelivered []batchState
	Deliveries  []Delivery
	Stats       WebhookStats
}

type batchState struct {
	PortalID int64
	Attempt  int
	Events   []WebhookEvent
}

// ErrDeliveryRunning is SaveState's error while webhook delivery still runs:
// Close the simulator first, so no event is both saved and sent.
var ErrDeliveryRunning = errors.New("hubspotsim: save the state after Close, once webhook delivery has stopped")

// SaveState writes the simulator's state as JSON to w. Call it after Close
// (and after the HTTP server stopped taking requests): events still queued,
// held for a retry or cut off in flight by Close are saved as undelivered.
func (s *Simulator) SaveState(w io.Writer) error {
	return s.saveState(w, true)
}

// Checkpoint writes the state as SaveState does, while the simulator runs,
// so that a process killed without a clean stop (`referflow dev` after
// kill -9) loses only what changed since its last checkpoint. Webhooks in
// flight are written as undelivered: a simulator restored from a checkpoint
// may deliver them again, as HubSpot may deliver any webhook twice.
func (s *Simulator) Checkpoint(w io.Writer) error {
	return s.saveState(w, false)
}

// saveState writes the state; whileClosed refuses while delivery runs.
func (s *Simulator) saveState(w io.Writer, whileClosed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := simState{Version: stateVersion, NextPortalID: s.nextPortalID, ChangeSeq: s.changeSeq, Changes: s.changeLog}
	for _, id := range s.portalOrder {
		st.Portals = append(st.Portals, portalStateOf(s.portals[id]))
	}
	for _, t := range sortedByKey(s.accessTokens) {
		st.AccessTokens = append(st.AccessTokens, accessTokenState{t.token, t.portalID, t.scopes, t.expires, t.refresh, t.revoked, t.epoch})
	}
	for _, t := range sortedByKey(s.refreshToks) {
		st.RefreshTokens = append(st.RefreshTokens, refreshTokenState{t.token, t.portalID, t.scopes, t.clientID, t.revoked, t.epoch})
	}
	for _, c := range sortedByKey(s.authCodes) {
		st.AuthCodes = append(st.AuthCodes, authCodeState{c.code, c.portalID, c.scopes, c.redirectURI, c.expires, c.used})
	}
	wh, err := s.wh.state(whileClosed)
	if err != nil {
		return err
	}
	st.Webhooks = wh
	enc := json.NewEncoder(w)
	return enc.Encode(st)
}

func portalStateOf(p *Portal) portalState {
	ps := portalState{
		ID: p.ID, Name: p.Name, PrivateAppToken: p.PrivateAppToken,
		Objects: map[string]objectStoreState{}, Properties: map[string][]propertyState{},
		Groups: p.groups, Pipelines: p.pipelines,
		NextListID: p.nextListID, NextPipelineID: p.nextPipeID, Requests: p.requests,
		Calls: p.calls, TokenEpoch: p.tokenEpoch,
	}
	if p.TimeZone != nil {
		ps.TimeZone = p.TimeZone.String()
	}
	for _, kind := range slices.Sorted(maps.Keys(p.modes)) {
		m := p.modes[kind]
		ps.Modes = append(ps.Modes, modeState{Mode: m, RevokedEpoch: m.revokedEpoch})
	}
	for t, store := range p.objects {
		saved := objectStoreState{NextID: store.nextID}
		for _, id := range sortedKeys(store.byID) {
			o := store.byID[id]
			saved.Objects = append(saved.Objects, objectState{o.id, o.props, o.created, o.updated, o.archived, o.archivedAt, o.mergedInto})
		}
		ps.Objects[t] = saved
	}
	for t, defs := range p.props {
		for _, name := range slices.Sorted(maps.Keys(defs)) {
			d := defs[name]
			ps.Properties[t] = append(ps.Properties[t], propertyState{Definition: d, Created: d.created, Updated: d.updated})
		}
	}
	for e, types := range p.assocs {
		ps.Associations = append(ps.Associations, assocState{e.fromType, e.fromID, e.toType, e.toID, sortedTypeIDs(types)})
	}
	ps.Labels, ps.NextLabelID = p.labelStates(), p.nextLabelID
	slices.SortFunc(ps.Associations, func(a, b assocState) int {
		return cmp.Or(cmp.Compare(a.FromType, b.FromType), cmp.Compare(a.FromID, b.FromID), cmp.Compare(a.ToType, b.ToType), cmp.Compare(a.ToID, b.ToID))
	})
	for _, id := range sortedKeys(p.lists) {
		l := p.lists[id]
		ps.Lists = append(ps.Lists, listState{l.id, l.name, l.objectType, l.processingType, l.filterBranch, l.rawFilter, l.members, l.created, l.updated, l.version})
	}
	return ps
}

func (w *webhooks) state(whileClosed bool) (webhooksState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if whileClosed && !w.closed {
		return webhooksState{}, ErrDeliveryRunning
	}
	st := webhooksState{
		Settings: w.settings, NextSubID: w.nextSubID, LastEventIDs: map[int64]int64{},
		Deliveries: w.deliveries, Stats: w.stats,
	}
	st.Stats.Pending = 0
	for _, id := range sortedKeys(w.portals) {
		p := w.portals[id]
		st.LastEventIDs[id] = p.lastID
		var open []*whBatch
		for b := range p.open {
			open = append(open, b)
		}
		// Oldest events first, so delivery resumes in about the order it had.
		slices.SortFunc(open, func(a, b *whBatch) int { return cmp.Compare(a.events[0].EventID, b.events[0].EventID) })
		for _, b := range open {
			st.Undelivered = append(st.Undelivered, batchState{PortalID: id, Attempt: b.attempt, Events: slices.Clone(b.events)})
		}
		if len(p.fresh) > 0 {
			evs := make([]WebhookEvent, len(p.fresh))
			for i, q := range p.fresh {
				evs[i] = q.ev
			}
			st.Undelivered = append(st.Undelivered, batchState{PortalID: id, Events: evs})
		}
	}
	return st, nil
}

// LoadState replaces the state of a simulator that has served nothing yet
// (just made by New) with what SaveState wrote, and resumes delivering the
// undelivered webhooks.
func (s *Simulator) LoadState(r io.Reader) error {
	var st simState
	dec := json.NewDecoder(r)
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("hubspotsim: read state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("hubspotsim: state format %d, this simulator reads %d", st.Version, stateVersion)
	}
	s.mu.Lock()
	if len(s.portals) > 0 {
		s.mu.Unlock()
		return errors.New("hubspotsim: load the state into a new simulator, before creating portals")
	}
	now := s.now()
	s.nextPortalID = st.NextPortalID
	for _, ps := range st.Portals {
		p, err := portalFromState(ps, now, s.opts.TimeZone)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.portals[p.ID] = p
		s.portalOrder = append(s.portalOrder, p.ID)
		s.privateToks[p.PrivateAppToken] = p
	}
	for _, t := range st.AccessTokens {
		s.accessTokens[t.Token] = &accessToken{t.Token, t.PortalID, t.Scopes, t.Expires, t.Refresh, t.Revoked, t.Epoch}
	}
	for _, t := range st.RefreshTokens {
		s.refreshToks[t.Token] = &refreshToken{t.Token, t.PortalID, t.Scopes, t.ClientID, t.Revoked, t.Epoch}
	}
	for _, c := range st.AuthCodes {
		s.authCodes[c.Code] = &authCode{c.Code, c.PortalID, c.Scopes, c.RedirectURI, c.Expires, c.Used}
	}
	s.changeSeq, s.changeLog = st.ChangeSeq, st.Changes
	s.mu.Unlock()
	s.wh.load(st.Webhooks)
	return nil
}

func portalFromState(ps portalState, now time.Time, zone *time.Location) (*Portal, error) {
	p := &Portal{
		ID: ps.ID, Name: ps.Name, PrivateAppToken: ps.PrivateAppToken, TimeZone: zone,
		objects: map[string]*objectStore{}, props: map[string]map[string]*property{},
		groups: ps.Groups, pipelines: ps.Pipelines, assocs: map[assocEdge]map[int]bool{},
		lists: map[int64]*list{}, nextListID: ps.NextListID, nextPipeID: ps.NextPipelineID, requests: ps.Requests,
		calls: ps.Calls, tokenEpoch: ps.TokenEpoch,
	}
	if ps.TimeZone != "" {
		loc, err := time.LoadLocation(ps.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("hubspotsim: portal %d's time zone: %w", ps.ID, err)
		}
		p.TimeZone = loc
	}
	for _, m := range ps.Modes {
		if p.modes == nil {
			p.modes = map[string]*Mode{}
		}
		m.Mode.revokedEpoch = m.RevokedEpoch
		p.modes[m.Mode.Kind] = m.Mode
	}
	if p.groups == nil {
		p.groups = map[string][]*propertyGroup{}
	}
	for t, saved := range ps.Objects {
		store := &objectStore{byID: map[int64]*object{}, nextID: saved.NextID}
		for _, o := range saved.Objects {
			obj := &object{id: o.ID, props: o.Props, created: o.Created, updated: o.Updated, archived: o.Archived, archivedAt: o.ArchivedAt, mergedInto: o.MergedInto}
			if obj.props == nil {
				obj.props = map[string]string{}
			}
			// Search sees every record at once after a restart.
			obj.reindex(now, 0)
			store.byID[o.ID] = obj
			if t == "contacts" {
				store.indexEmail(obj.props["email"], obj.id)
			}
		}
		p.objects[t] = store
	}
	for t, defs := range ps.Properties {
		p.props[t] = map[string]*property{}
		for _, d := range defs {
			d.Definition.created, d.Definition.updated = d.Created, d.Updated
			p.props[t][d.Definition.Name] = d.Definition
		}
	}
	p.loadLabels(ps.Labels, ps.NextLabelID)
	for _, a := range ps.Associations {
		types := map[int]bool{}
		for _, t := range a.Types {
			types[t] = true
		}
		p.assocs[assocEdge{a.FromType, a.FromID, a.ToType, a.ToID}] = types
	}
	for _, l := range ps.Lists {
		members := l.Members
		if members == nil {
			members = map[int64]time.Time{}
		}
		p.lists[l.ID] = &list{id: l.ID, name: l.Name, objectType: l.ObjectType, processingType: l.ProcessingType,
			filterBranch: l.FilterBranch, rawFilter: l.RawFilter, members: members, created: l.Created, updated: l.Updated, version: l.Version}
	}
	return p, nil
}

func (w *webhooks) load(st webhooksState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.settings = st.Settings
	if st.NextSubID > w.nextSubID {
		w.nextSubID = st.NextSubID
	}
	w.deliveries, w.stats = st.Deliveries, st.Stats
	for id, last := range st.LastEventIDs {
		w.portal(id).lastID = last
	}
	touched := map[int64]bool{}
	for _, bs := range st.Undelivered {
		p := w.portal(bs.PortalID)
		b := &whBatch{portalID: bs.PortalID, events: bs.Events, attempt: bs.Attempt}
		p.open[b] = struct{}{}
		p.ready = append(p.ready, b)
		touched[bs.PortalID] = true
	}
	for _, id := range sortedKeys(touched) {
		w.pumpLocked(id)
	}
	w.changedLocked()
}

// SaveStateFile writes the state to path atomically (a temporary file
// renamed over it), so a crash while saving leaves the previous state.
func (s *Simulator) SaveStateFile(path string) error {
	return writeStateFile(path, s.SaveState)
}

// CheckpointFile writes a Checkpoint to path atomically, as SaveStateFile
// does.
func (s *Simulator) CheckpointFile(path string) error {
	return writeStateFile(path, s.Checkpoint)
}

func writeStateFile(path string, save func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("hubspotsim: save state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := save(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("hubspotsim: save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("hubspotsim: save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("hubspotsim: save state: %w", err)
	}
	return nil
}

// LoadStateFile loads the state SaveStateFile wrote to path. It reports
// whether there was one: a missing file is a first start, not an error.
func (s *Simulator) LoadStateFile(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("hubspotsim: load state: %w", err)
	}
	defer f.Close()
	if err := s.LoadState(f); err != nil {
		return false, fmt.Errorf("%w (in %s)", err, path)
	}
	return true, nil
}

func sortedByKey[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}
