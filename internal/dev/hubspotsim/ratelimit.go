package hubspotsim

import (
	"net/http"
	"strconv"
	"time"
)

// limiter keeps a portal's request history for HubSpot's three policies.
type limiter struct {
	tenSecond []time.Time // accepted requests in the rolling 10 s
	search    []time.Time // accepted search requests in the rolling second
	day       time.Time   // UTC midnight of the day counted
	dayCount  int
}

func prune(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	return ts[i:]
}

// admit applies the portal's limits to one CRM request: on success it counts
// the request and fills the X-HubSpot-RateLimit-* headers; over a limit, or
// while ModeDailyLimit or ModeRateLimit is on, it answers HubSpot's 429 and
// names the mode that did. The caller holds s.mu.
func (s *Simulator) admit(p *Portal, auth *authInfo, search bool, h http.Header) (*apiError, string) {
	now := s.now()
	l := &p.limits
	l.tenSecond = prune(l.tenSecond, now.Add(-10*time.Second))
	l.search = prune(l.search, now.Add(-time.Second))
	// HubSpot's day is the account's, in its time zone.
	if day := p.dayStart(now); !day.Equal(l.day) {
		l.day, l.dayCount = day, 0
	}
	max, daily, perSecond := s.opts.RateLimitPerTenSeconds, s.opts.DailyLimit, s.opts.SearchPerSecond

	setHeaders := func(remaining, dailyRemaining int) {
		// HubSpot's search endpoints do not return the standard rate-limit headers.
		if search {
			return
		}
		if max > 0 {
			h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(max))
			h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(maxInt(0, remaining)))
			h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
		}
		// Daily headers are only sent to private apps, as HubSpot does.
		if daily > 0 && auth.private {
			h.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(daily))
			h.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(maxInt(0, dailyRemaining)))
		}
	}
	if m := p.modeLocked(ModeDailyLimit, now); m != nil {
		m.answered()
		setHeaders(max-len(l.tenSecond), 0)
		return rateLimitErr("DAILY"), ModeDailyLimit
	}
	if m := p.modeLocked(ModeRateLimit, now); m != nil {
		m.answered()
		setHeaders(0, daily-l.dayCount)
		return rateLimitErr("TEN_SECONDLY_ROLLING"), ModeRateLimit
	}
	if daily > 0 && l.dayCount >= daily {
		setHeaders(max-len(l.tenSecond), daily-l.dayCount)
		return rateLimitErr("DAILY"), ""
	}
	if max > 0 && len(l.tenSecond) >= max {
		setHeaders(max-len(l.tenSecond), daily-l.dayCount)
		return rateLimitErr("TEN_SECONDLY_ROLLING"), ""
	}
	if search && perSecond > 0 && len(l.search) >= perSecond {
		return rateLimitErr("SECONDLY"), ""
	}
	l.tenSecond = append(l.tenSecond, now)
	if search {
		l.search = append(l.search, now)
	}
	l.dayCount++
	p.requests++
	setHeaders(max-len(l.tenSecond), daily-l.dayCount)
	return nil, ""
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
