package hubspot

import (
	"context"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // account time zones load on machines without zone files (slim images)
)

// Account is what HubSpot says of the account (portal) a token belongs to.
type Account struct {
	PortalID int64 `json:"portalId"`
	// TimeZone is the account's time zone setting, an IANA name such as
	// "America/New_York" or "US/Eastern". HubSpot resets the account's daily
	// API limit at midnight in it.
	TimeZone              string `json:"timeZone"`
	UTCOffsetMilliseconds int64  `json:"utcOffsetMilliseconds"`
}

// Location is the account's time zone; an unknown name falls back on the
// account's current offset from UTC.
func (a Account) Location() *time.Location {
	if name := strings.TrimSpace(a.TimeZone); name != "" && name != "Local" {
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
	}
	return time.FixedZone("UTC offset", int(a.UTCOffsetMilliseconds/1000))
}

// AccountDetails reads the account the client's token belongs to
// (GET /account-info/2026-03/details).
func (c *Client) AccountDetails(ctx context.Context) (*Account, error) {
	var a Account
	if err := c.do(ctx, request{method: http.MethodGet, path: "/account-info/" + APIVersion + "/details"}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
