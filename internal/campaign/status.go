package campaign

import (
	"fmt"
	"slices"
	"strings"
)

// Status is where a campaign stands (campaigns.status).
type Status string

// The statuses. A new campaign is a draft (or created active). Only an
// active campaign takes members and referrals, from any way in (the admin
// API, HubSpot matching rules, review decisions); its matching rules are the
// only ones the Sales Receiver applies. A paused campaign takes nothing new,
// but its referrals keep living: they qualify, are decided and earn rewards.
// An archived campaign is read-only for good: no new members or referrals,
// no edits; its existing referrals keep their workflows (an admin can still
// decide on them and settle their rewards), but no lead of theirs is sent to
// HubSpot any more and the Sales Receiver reads none of its rules.
const (
	Draft    Status = "draft"
	Active   Status = "active"
	Paused   Status = "paused"
	Archived Status = "archived"
)

// Statuses lists them in lifecycle order.
var Statuses = []Status{Draft, Active, Paused, Archived}

// InitialStatuses are those a campaign may be created with.
var InitialStatuses = []Status{Draft, Active}

// transitions lists, per status, the statuses a campaign may move to: the one
// definition of the lifecycle. Archived is final.
var transitions = map[Status][]Status{
	Draft:    {Active, Archived},
	Active:   {Paused, Archived},
	Paused:   {Active, Archived},
	Archived: nil,
}

// AllowedTransitions lists the statuses a campaign in status from may move
// to, in lifecycle order.
func AllowedTransitions(from Status) []Status {
	return slices.Clone(transitions[from])
}

// ParseStatus accepts a status name as stored (lower case).
func ParseStatus(s string) (Status, error) {
	if st := Status(s); slices.Contains(Statuses, st) {
		return st, nil
	}
	return "", fmt.Errorf("must be one of %s, not %q", join(Statuses), s)
}

// TransitionError refuses a move the lifecycle does not allow; its message
// names the moves that are.
type TransitionError struct {
	From, To Status
}

func (e *TransitionError) Error() string {
	allowed := transitions[e.From]
	if len(allowed) == 0 {
		return fmt.Sprintf("a campaign that is %s cannot become %s: %s is final (read-only)", e.From, e.To, e.From)
	}
	return fmt.Sprintf("a campaign that is %s cannot become %s; from %s it can become %s", e.From, e.To, e.From, join(allowed))
}

// CheckTransition says why a campaign may not move from one status to
// another, or nil when it may. Staying in the same status is no move and is
// allowed (a repeated request changes nothing).
func CheckTransition(from, to Status) error {
	if from == to || slices.Contains(transitions[from], to) {
		return nil
	}
	return &TransitionError{From: from, To: to}
}

// TakesNew tells whether a campaign in this status takes new members and
// referrals.
func (s Status) TakesNew() bool { return s == Active }

// Editable tells whether a campaign's details and settings may change.
func (s Status) Editable() bool { return s != Archived }

// NotActiveError refuses a new member or referral of a campaign that is not
// active, saying why.
type NotActiveError struct {
	Status Status
}

func (e *NotActiveError) Error() string {
	switch e.Status {
	case Draft:
		return "the campaign is a draft: it takes members and referrals once it is active (set its status to active)"
	case Paused:
		return "the campaign is paused: it takes no new members or referrals until it is active again (its existing referrals carry on)"
	case Archived:
		return "the campaign is archived: it is read-only and takes no new members or referrals"
	}
	return fmt.Sprintf("the campaign is %s: only active campaigns take members and referrals", e.Status)
}

// CheckTakesNew is nil when a campaign in status s takes new members and
// referrals, else a *NotActiveError.
func CheckTakesNew(s Status) error {
	if s.TakesNew() {
		return nil
	}
	return &NotActiveError{Status: s}
}

func join(ss []Status) string {
	words := make([]string, len(ss))
	for i, s := range ss {
		words[i] = string(s)
	}
	return strings.Join(words, ", ")
}
