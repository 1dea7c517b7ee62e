// Package referral holds the referral's vocabulary shared by the workflow, its
// activities and the API: the statuses of product-brief.md and the moves
// between them that referflow allows.
package referral

import (
	"fmt"
	"strings"
)

// Status is where a referral stands: pending → qualified → approved, or
// denied. Being "in review" is a hold, not a status.
type Status string

// The statuses, as stored in referrals.status and shown in the Web UI.
const (
	Pending   Status = "pending"
	Qualified Status = "qualified"
	Approved  Status = "approved"
	Denied    Status = "denied"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{Pending, Qualified, Approved, Denied}

// Converted tells whether a referral in this status counts as converted on
// its member (HubSpot said the lead converted): qualified or approved. It is
// what members.converted_referral_count counts.
func (s Status) Converted() bool { return s == Qualified || s == Approved }

// ParseStatus accepts a status name in any case.
func ParseStatus(s string) (Status, error) {
	st := Status(strings.ToLower(strings.TrimSpace(s)))
	for _, known := range Statuses {
		if st == known {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown referral status %q: must be one of pending, qualified, approved, denied", s)
}

// CheckTransition says why a referral may not move from one status to
// another, or nil when it may. Moving forward is always allowed; an admin may
// also send a referral back (e.g. approved by mistake) or deny it at any
// point. A denial needs a reason so the audit trail shows why; moving to the
// status it already has is refused so nothing is recorded twice.
func CheckTransition(from, to Status, reason string) error {
	if _, err := ParseStatus(string(to)); err != nil {
		return err
	}
	if from == to {
		return fmt.Errorf("referral is already %s", to)
	}
	if to == Denied && strings.TrimSpace(reason) == "" {
		return fmt.Errorf("denying a referral needs a reason")
	}
	return nil
}
