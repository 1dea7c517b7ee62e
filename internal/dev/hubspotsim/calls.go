package hubspotsim

import "time"

// Call is one CRM request the simulator saw for a portal, whatever it
// answered: tests count them per window to see whether a client backs off
// (a 429 or 401 costs HubSpot a request too), and the page shows the latest.
type Call struct {
	At     time.Time // the simulator's clock (Options.Now) when the call arrived
	Method string
	Path   string
	Status int
	// Mode is the mode that gave the answer (ModeRateLimit, ...), "" when
	// the portal answered as usual.
	Mode string
}

// maxCalls bounds each portal's call log; older calls are dropped.
const maxCalls = 10000

// logCallLocked records a call. The caller holds s.mu.
func (p *Portal) logCallLocked(c Call) {
	if len(p.calls) >= maxCalls {
		p.calls = append(p.calls[:0:0], p.calls[len(p.calls)-maxCalls/2:]...)
	}
	p.calls = append(p.calls, c)
}

// Calls returns the CRM calls the portal saw (the latest 5,000 to 10,000),
// oldest first: authenticated as the portal's, or made with one of its
// revoked tokens.
func (s *Simulator) Calls(portalID int64) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.portals[portalID]
	if p == nil {
		return nil
	}
	return append([]Call(nil), p.calls...)
}
