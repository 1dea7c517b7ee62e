package hubspotsim

// Misbehaviour modes: a portal can be switched into the ways HubSpot lets an
// integration down — rate-limit storms, an exhausted daily limit, bursts of
// 5xx (optionally after the write was done), answers slower than the
// client's timeout, revoked tokens — and back. Each answer a mode gives is
// the one HubSpot documents (status, headers, body), so a client that copes
// with the simulator copes with HubSpot. Resetting a portal (ResetPortal) is
// an action, not a mode: its data is gone for good.
//
// Modes apply to the CRM API (every path crmEndpoint serves); revoked tokens
// also apply to the token endpoint and introspection. Webhook deliveries go
// on whatever mode is on, as HubSpot's do: they do not count against the
// app's limits and do not go through its API.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mode kinds.
const (
	// ModeRateLimit answers every CRM call 429 with policy
	// TEN_SECONDLY_ROLLING (and X-HubSpot-RateLimit-Remaining: 0), as when
	// other apps of the portal use up its ten-second budget.
	ModeRateLimit = "rate_limit"
	// ModeDailyLimit answers every CRM call 429 with policy DAILY until the
	// portal's next midnight in its time zone, when HubSpot resets the daily
	// count.
	ModeDailyLimit = "daily_limit"
	// ModeServerErrors answers CRM calls 500, 502, 503 or 504 with HubSpot's
	// body for it; with AfterWrite the call is carried out first and only its
	// answer is lost (HubSpot created the object, the client never hears).
	ModeServerErrors = "server_errors"
	// ModeSlowAnswers carries each CRM call out at once and sends its answer
	// Delay later: longer than the client's timeout, the client gives up on a
	// write that was done.
	ModeSlowAnswers = "slow_answers"
	// ModeRevokedTokens refuses every OAuth access and refresh token of the
	// portal issued before the mode was switched on (401
	// INVALID_AUTHENTICATION on CRM calls, 400 invalid_grant /
	// BAD_REFRESH_TOKEN on refresh, inactive on introspection), as after the
	// app's access was revoked; a new consent gives tokens that work. With
	// AccessOnly every access token is refused, even one refreshed or granted
	// while the mode is on, while the token endpoint keeps answering: a
	// freshly refreshed token that still gets 401.
	ModeRevokedTokens = "revoked_tokens"
	// ModeJournalOutage answers the webhooks journal's reads of the portal
	// (the local journal with its installPortalId) 503, as when HubSpot's
	// journal is down; the CRM API and the subscriptions API go on.
	ModeJournalOutage = "journal_outage"
)

// ModeKinds lists the kinds in the order the page shows them.
var ModeKinds = []string{ModeRateLimit, ModeDailyLimit, ModeServerErrors, ModeSlowAnswers, ModeRevokedTokens, ModeJournalOutage}

// Duration is a time.Duration that reads and writes JSON as Go's duration
// text ("30s", "1m30s").
type Duration time.Duration

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "30s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: want Go duration text such as 30s or 1m30s", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration: want text such as \"30s\" or a number of seconds, got %s", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// Mode is one misbehaviour of a portal: what to switch on (Kind and its
// settings), and, as the simulator reports it, since when, until when and
// how many calls it answered. A mode with neither For nor Calls lasts until
// it is switched off.
type Mode struct {
	Kind string `json:"kind"`
	// Status is the answer of ModeServerErrors: 500, 502, 503 (default) or 504.
	Status int `json:"status,omitempty"`
	// Calls is how many CRM calls ModeServerErrors, ModeSlowAnswers or
	// ModeRateLimit answers before it ends by itself (0: no count): "the
	// storm refuses one more call, then ends".
	Calls int `json:"calls,omitempty"`
	// For is how long the mode lasts (0: no end time). ModeDailyLimit ends at
	// the portal's next midnight whatever For says.
	For Duration `json:"for,omitempty"`
	// AfterWrite makes ModeServerErrors carry the call out before failing it.
	AfterWrite bool `json:"after_write,omitempty"`
	// WritesOnly makes ModeServerErrors or ModeSlowAnswers answer only
	// writes (creates, updates, deletes, associations; not reads, searches
	// or batch reads), so Calls counts writes: "the next two creates lose
	// their answer".
	WritesOnly bool `json:"writes_only,omitempty"`
	// Delay is how late ModeSlowAnswers answers (required).
	Delay Duration `json:"delay,omitempty"`
	// AccessOnly makes ModeRevokedTokens refuse every access token while
	// refresh keeps working (see ModeRevokedTokens).
	AccessOnly bool `json:"access_only,omitempty"`

	// Reported by the simulator.
	Since     time.Time  `json:"since"`
	Until     *time.Time `json:"until,omitempty"`
	CallsLeft int        `json:"calls_left,omitempty"`
	Answered  int        `json:"answered"`

	revokedEpoch int // ModeRevokedTokens: tokens of an epoch below this are refused
}

// check validates a mode to switch on and fills its defaults.
func (m *Mode) check() error {
	if !slices.Contains(ModeKinds, m.Kind) {
		return fmt.Errorf("unknown mode %q: want one of %s", m.Kind, strings.Join(ModeKinds, ", "))
	}
	if m.For < 0 || m.Calls < 0 || m.Delay < 0 {
		return fmt.Errorf("mode %s: for, calls and delay must not be negative", m.Kind)
	}
	switch m.Kind {
	case ModeServerErrors:
		if m.Status == 0 {
			m.Status = http.StatusServiceUnavailable
		}
		switch m.Status {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		default:
			return fmt.Errorf("mode %s: status must be 500, 502, 503 or 504, got %d", m.Kind, m.Status)
		}
	case ModeSlowAnswers:
		if m.Delay <= 0 {
			return fmt.Errorf("mode %s: delay is required (how late each answer comes, e.g. 35s: longer than the client's timeout)", m.Kind)
		}
	}
	if m.Kind != ModeServerErrors && m.Status != 0 {
		return fmt.Errorf("mode %s: status is for %s only", m.Kind, ModeServerErrors)
	}
	if m.Kind != ModeServerErrors && m.Kind != ModeSlowAnswers && m.Kind != ModeRateLimit && m.Calls != 0 {
		return fmt.Errorf("mode %s: calls is for %s, %s and %s only", m.Kind, ModeServerErrors, ModeSlowAnswers, ModeRateLimit)
	}
	if m.AfterWrite && m.Kind != ModeServerErrors {
		return fmt.Errorf("mode %s: after_write is for %s only", m.Kind, ModeServerErrors)
	}
	if m.WritesOnly && m.Kind != ModeServerErrors && m.Kind != ModeSlowAnswers {
		return fmt.Errorf("mode %s: writes_only is for %s and %s only", m.Kind, ModeServerErrors, ModeSlowAnswers)
	}
	if m.AccessOnly && m.Kind != ModeRevokedTokens {
		return fmt.Errorf("mode %s: access_only is for %s only", m.Kind, ModeRevokedTokens)
	}
	if m.Delay != 0 && m.Kind != ModeSlowAnswers {
		return fmt.Errorf("mode %s: delay is for %s only", m.Kind, ModeSlowAnswers)
	}
	return nil
}

// ParseMode reads a mode written as the command line takes it: the kind,
// then comma-separated settings, e.g. "rate_limit,for=30s",
// "server_errors,status=502,calls=3,after_write", "slow_answers,delay=35s",
// "revoked_tokens,access_only", "daily_limit",
// "slow_answers,delay=35s,calls=2,writes_only". Hyphens may stand for
// underscores.
func ParseMode(spec string) (Mode, error) {
	parts := strings.Split(strings.TrimSpace(spec), ",")
	v := url.Values{}
	for _, p := range parts[1:] {
		k, val, hasValue := strings.Cut(strings.TrimSpace(p), "=")
		if !hasValue {
			val = "true"
		}
		v.Set(strings.ReplaceAll(k, "-", "_"), val)
	}
	return ModeFromValues(parts[0], v)
}

// ModeFromValues reads a mode from form or query values named as Mode's JSON
// fields (status, calls, for, after_write, writes_only, delay, access_only)
// and checks it.
func ModeFromValues(kind string, v url.Values) (Mode, error) {
	m := Mode{Kind: strings.ReplaceAll(strings.TrimSpace(kind), "-", "_")}
	for key := range v {
		switch key {
		case "status", "calls", "for", "after_write", "writes_only", "delay", "access_only":
		default:
			return Mode{}, fmt.Errorf("mode %s: unknown setting %q (want status, calls, for, after_write, writes_only, delay or access_only)", m.Kind, key)
		}
	}
	var err error
	num := func(name string) int {
		raw := strings.TrimSpace(v.Get(name))
		if raw == "" || err != nil {
			return 0
		}
		n, e := strconv.Atoi(raw)
		if e != nil {
			err = fmt.Errorf("mode %s: %s must be a whole number, got %q", m.Kind, name, raw)
		}
		return n
	}
	dur := func(name string) Duration {
		raw := strings.TrimSpace(v.Get(name))
		if raw == "" || err != nil {
			return 0
		}
		d, e := time.ParseDuration(raw)
		if e != nil {
			if secs, e2 := strconv.ParseFloat(raw, 64); e2 == nil {
				return Duration(secs * float64(time.Second))
			}
			err = fmt.Errorf("mode %s: %s must be a duration such as 30s or 2m, got %q", m.Kind, name, raw)
		}
		return Duration(d)
	}
	flag := func(name string) bool {
		raw := strings.TrimSpace(v.Get(name))
		if raw == "" || err != nil {
			return false
		}
		b, e := strconv.ParseBool(raw)
		if e != nil {
			if raw == "on" {
				return true
			}
			err = fmt.Errorf("mode %s: %s must be true or false, got %q", m.Kind, name, raw)
		}
		return b
	}
	m.Status, m.Calls, m.For, m.Delay = num("status"), num("calls"), dur("for"), dur("delay")
	m.AfterWrite, m.WritesOnly, m.AccessOnly = flag("after_write"), flag("writes_only"), flag("access_only")
	if err != nil {
		return Mode{}, err
	}
	return m, m.check()
}

// SetMode switches a mode on for a portal, replacing one of the same kind,
// and returns it as the simulator keeps it.
func (s *Simulator) SetMode(portalID int64, m Mode) (Mode, error) {
	if err := m.check(); err != nil {
		return Mode{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.portals[portalID]
	if p == nil {
		return Mode{}, errNoPortal
	}
	now := s.now()
	m.Since, m.Until, m.CallsLeft, m.Answered = now, nil, m.Calls, 0
	if m.For > 0 {
		until := now.Add(time.Duration(m.For))
		m.Until = &until
	}
	switch m.Kind {
	case ModeDailyLimit:
		reset := p.nextMidnight(now)
		m.Until = &reset
	case ModeRevokedTokens:
		// Tokens issued from now on belong to a new epoch, which the mode
		// lets through (unless AccessOnly).
		p.tokenEpoch++
		m.revokedEpoch = p.tokenEpoch
	}
	if p.modes == nil {
		p.modes = map[string]*Mode{}
	}
	p.modes[m.Kind] = &m
	return m, nil
}

// ClearMode switches a portal's mode off; it reports whether it was on.
// With kind "" every mode is switched off.
func (s *Simulator) ClearMode(portalID int64, kind string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.portals[portalID]
	if p == nil {
		return false
	}
	if kind == "" {
		on := len(p.activeModesLocked(s.now())) > 0
		p.modes = nil
		return on
	}
	kind = strings.ReplaceAll(kind, "-", "_")
	_, on := p.modes[kind]
	delete(p.modes, kind)
	return on
}

// Modes returns the portal's modes in force, in ModeKinds order. Modes whose
// time or calls ran out are gone.
func (s *Simulator) Modes(portalID int64) []Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.portals[portalID]
	if p == nil {
		return nil
	}
	return p.activeModesLocked(s.now())
}

func (p *Portal) activeModesLocked(now time.Time) []Mode {
	out := []Mode{}
	for _, k := range ModeKinds {
		if m := p.modeLocked(k, now); m != nil {
			out = append(out, *m)
		}
	}
	return out
}

// modeLocked returns the portal's mode of that kind when it is in force,
// dropping it when its time or calls ran out. The caller holds s.mu.
func (p *Portal) modeLocked(kind string, now time.Time) *Mode {
	m := p.modes[kind]
	if m == nil {
		return nil
	}
	if (m.Until != nil && !now.Before(*m.Until)) || (m.Calls > 0 && m.CallsLeft <= 0) {
		delete(p.modes, kind)
		return nil
	}
	return m
}

// answered counts a call the mode answered, using up one of its calls.
func (m *Mode) answered() {
	m.Answered++
	if m.Calls > 0 {
		m.CallsLeft--
	}
}

// tokenRevokedLocked tells whether the portal refuses an OAuth token of that
// epoch (access is false for a refresh token); count makes the refusal
// count as a call the mode answered. The caller holds s.mu.
func (p *Portal) tokenRevokedLocked(epoch int, access, count bool, now time.Time) bool {
	if p == nil {
		return false
	}
	m := p.modeLocked(ModeRevokedTokens, now)
	if m == nil || (m.AccessOnly && !access) || (!m.AccessOnly && epoch >= m.revokedEpoch) {
		return false
	}
	if count {
		m.answered()
	}
	return true
}

// nextMidnight is when the portal's day ends in its time zone: when HubSpot
// resets its daily count.
func (p *Portal) nextMidnight(now time.Time) time.Time {
	l := now.In(p.TimeZone)
	return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, p.TimeZone)
}

// dayStart is the start of the portal's day (its time zone) holding now.
func (p *Portal) dayStart(now time.Time) time.Time {
	l := now.In(p.TimeZone)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, p.TimeZone)
}

// ResetPortal empties a portal as if it had been created anew: its
// contacts, deals, companies, associations, lists, custom properties and
// pipelines are gone, object IDs start again from the first a fresh portal
// hands out (so IDs referflow stored may come to name other records), and
// every OAuth token issued so far is refused (ModeRevokedTokens switched
// on). No webhook events are sent for what vanished. The portal keeps its
// ID, name, time zone, private-app token, rate-limit history and other modes.
func (s *Simulator) ResetPortal(portalID int64) error {
	s.mu.Lock()
	p := s.portals[portalID]
	if p == nil {
		s.mu.Unlock()
		return errNoPortal
	}
	s.resetDataLocked(p)
	s.mu.Unlock()
	_, err := s.SetMode(portalID, Mode{Kind: ModeRevokedTokens})
	return err
}

// isWrite tells a CRM call that changes something from a read: searches and
// batch reads are POSTs that only read.
func isWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return false
	case http.MethodPost:
		p := r.URL.Path
		return !strings.HasSuffix(p, "/search") && !strings.HasSuffix(p, "/batch/read")
	}
	return true
}
