package hubspotsim

import (
	"fmt"
	"net/http"
)

// GET /account-info/2026-03/details (and /account-info/v3/details): the
// account's ID, type, currency, hosting location and time zone, with its
// current offset from UTC. Any valid token may read it.
func hAccountDetails(c *reqCtx) (int, any) {
	p := c.p
	_, offset := c.s.now().In(p.TimeZone).Zone()
	sign := "+"
	if offset < 0 {
		sign, offset = "-", -offset
	}
	ms := int64(offset) * 1000
	if sign == "-" {
		ms = -ms
	}
	return http.StatusOK, map[string]any{
		"portalId":              p.ID,
		"accountType":           "STANDARD",
		"timeZone":              p.TimeZone.String(),
		"companyCurrency":       "USD",
		"additionalCurrencies":  []string{},
		"utcOffset":             fmt.Sprintf("%s%02d:%02d", sign, offset/3600, offset%3600/60),
		"utcOffsetMilliseconds": ms,
		"uiDomain":              "app.hubspot.com",
		"dataHostingLocation":   "na1",
	}
}
