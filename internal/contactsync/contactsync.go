// Package contactsync holds a contact sync's words: where contacts come from
// (all contacts, one list), one-time or ongoing, its statuses, the mapping
// of HubSpot properties into members and of members' referral fields back
// to HubSpot, its counts, and where a run reads next. The API validates with
// it, the activities run by it, the workflow and Postgres store it.
package contactsync

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// Source is where a sync's contacts come from (syncs.source).
type Source string

// Sources.
const (
	SourceAllContacts Source = "all_contacts"
	SourceList        Source = "list"
)

// Mode says whether a sync runs once or on a schedule (syncs.mode).
type Mode string

// Modes.
const (
	ModeOneTime Mode = "one_time"
	ModeOngoing Mode = "ongoing"
)

// Status is a sync's state (syncs.status): an ongoing sync's schedule runs
// while active; a one-time sync is completed once its run ended.
type Status string

// Statuses.
const (
	StatusActive    Status = "active"
	StatusPaused    Status = "paused"
	StatusCompleted Status = "completed"
)

// RunStatus is how a sync's last run went (syncs.last_run_status).
type RunStatus string

// Run statuses. A run waits (and says why) while HubSpot cannot be reached
// or is not connected, and goes on by itself when it can.
const (
	RunRunning   RunStatus = "running"
	RunWaiting   RunStatus = "waiting"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
)

// The vocabularies, in order (the OpenAPI document's enums).
var (
	Sources     = []Source{SourceAllContacts, SourceList}
	Modes       = []Mode{ModeOneTime, ModeOngoing}
	Statuses    = []Status{StatusActive, StatusPaused, StatusCompleted}
	RunStatuses = []RunStatus{RunRunning, RunWaiting, RunSucceeded, RunFailed}
)

// DefaultCronSpec is an ongoing sync's schedule when none is given: every
// 15 minutes.
const DefaultCronSpec = "*/15 * * * *"

// PausedOnDisconnect is the reason kept on the syncs referflow paused
// because HubSpot was disconnected (and the note on their schedules).
const PausedOnDisconnect = "HubSpot was disconnected: resume the sync once HubSpot is connected again"

// Member fields a mapping fills (the keys of Mapping).
const (
	FieldEmail      = "email"
	FieldFirstName  = "first_name"
	FieldLastName   = "last_name"
	FieldExternalID = "external_id"
)

// Return fields written back to HubSpot (the keys of ReturnFields).
const (
	ReturnReferralLink           = "referral_link"
	ReturnReferralCode           = "referral_code"
	ReturnReferralCount          = "referral_count"
	ReturnConvertedReferralCount = "converted_referral_count"
)

// Mapping says which HubSpot contact property fills each member field:
// member field → property. Email and first name are required.
type Mapping map[string]string

// ReturnFields says which HubSpot contact property gets each of a member's
// referral fields: return field → property. The referral link is required.
type ReturnFields map[string]string

// DefaultMapping is the mapping of a sync created without one: HubSpot's
// own email, first name and last name properties.
func DefaultMapping() Mapping {
	return Mapping{FieldEmail: "email", FieldFirstName: "firstname", FieldLastName: "lastname"}
}

// DefaultReturnFields are the return fields of a sync created without them:
// the link and the code, into the properties referflow creates on contacts.
func DefaultReturnFields() ReturnFields {
	return ReturnFields{ReturnReferralLink: hubspotobject.PropReferralLink, ReturnReferralCode: hubspotobject.PropReferralCode}
}

var (
	memberFields = []string{FieldEmail, FieldFirstName, FieldLastName, FieldExternalID}
	returnFields = []string{ReturnReferralLink, ReturnReferralCode, ReturnReferralCount, ReturnConvertedReferralCount}
)

// MemberFields and ReturnFieldNames list the keys a mapping and return
// fields may hold (the OpenAPI document's enums).
func MemberFields() []string     { return append([]string(nil), memberFields...) }
func ReturnFieldNames() []string { return append([]string(nil), returnFields...) }

// Validate names what is wrong with a mapping, by field path under root.
func (m Mapping) Validate(root string) map[string]string {
	return validateFields(root, m, memberFields, []string{FieldEmail, FieldFirstName}, false)
}

// Validate names what is wrong with return fields, by field path under root.
func (r ReturnFields) Validate(root string) map[string]string {
	return validateFields(root, r, returnFields, []string{ReturnReferralLink}, true)
}

// validateFields checks keys, property names and required keys; unique
// refuses two keys naming one property (two return fields writing one
// property would overwrite each other).
func validateFields(root string, m map[string]string, known, required []string, unique bool) map[string]string {
	problems := map[string]string{}
	for k, v := range m {
		switch {
		case !contains(known, k):
			problems[root+"."+k] = "is not a field: use " + strings.Join(known, ", ")
		case !propertyName(v):
			problems[root+"."+k] = "must be a HubSpot property's internal name (lower-case letters, digits and _, starting with a letter)"
		}
	}
	for _, k := range required {
		if strings.TrimSpace(m[k]) == "" {
			problems[root+"."+k] = "is required"
		}
	}
	if unique {
		seen := map[string]string{}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if other, ok := seen[m[k]]; ok {
				problems[root+"."+k] = fmt.Sprintf("writes the same property as %s", other)
			}
			seen[m[k]] = k
		}
	}
	return problems
}

// propertyName is what a HubSpot property's internal name looks like, as
// campaign settings check it.
var propertyName = regexp.MustCompile(campaign.PropertyNamePattern).MatchString

func contains(vs []string, s string) bool {
	for _, v := range vs {
		if v == s {
			return true
		}
	}
	return false
}

// Properties are the contact properties a run reads: the mapped ones, the
// return fields' (to write back only what changed) and lastmodifieddate.
func Properties(m Mapping, r ReturnFields) []string {
	set := map[string]bool{PropLastModified: true}
	for _, p := range m {
		set[p] = true
	}
	for _, p := range r {
		set[p] = true
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// PropLastModified is the contact property an ongoing sync's watermark
// follows.
const PropLastModified = "lastmodifieddate"

// Stats are a run's counts (syncs.last_run_stats).
type Stats struct {
	// Seen counts contacts read; each is then created, updated, unchanged
	// or failed.
	Seen      int `json:"seen"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Failed    int `json:"failed"`
	// WrittenBack counts contacts whose return fields were written (those
	// already holding the values are not written again).
	WrittenBack int `json:"written_back"`
	// Pages counts the pages of contacts read.
	Pages int `json:"pages"`
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Seen += o.Seen
	s.Created += o.Created
	s.Updated += o.Updated
	s.Unchanged += o.Unchanged
	s.Failed += o.Failed
	s.WrittenBack += o.WrittenBack
	s.Pages += o.Pages
}

// Phase is how a run reads its contacts.
type Phase string

// Phases.
const (
	// PhaseContacts pages through all contacts (an all-contacts sync's
	// first or one-time run).
	PhaseContacts Phase = "contacts"
	// PhaseMemberships pages through a list's memberships, reading the
	// contacts in batches (every run of a list sync).
	PhaseMemberships Phase = "memberships"
	// PhaseSearch reads the contacts modified since the watermark, oldest
	// modification first, with the CRM search (an ongoing all-contacts
	// sync's later runs).
	PhaseSearch Phase = "search"
)

// Cursor is where a run reads next (syncs.run_cursor).
//
// A search never pages with HubSpot's offset cursor: a run writes back to
// the contacts it read, which moves them to the end of a search sorted by
// modification and would make an offset skip others; and HubSpot pages
// through at most 10,000 results. Each page is instead a fresh search from
// the newest modification read so far: the contacts modified at exactly
// Since are read first, by ID after AfterID (any number of them, even more
// than 10,000 sharing one timestamp), then those modified after it.
type Cursor struct {
	Phase Phase `json:"phase"`
	// After is HubSpot's paging cursor (contacts, memberships).
	After string `json:"after,omitempty"`
	// Since and AfterID are the search's position; Until bounds it (the
	// run's start: later modifications, its own write-backs included, are
	// the next run's).
	Since   time.Time `json:"since,omitzero"`
	AfterID string    `json:"after_id,omitempty"`
	Tied    bool      `json:"tied,omitempty"`
	Until   time.Time `json:"until,omitzero"`
	// Done is set once the last page was read.
	Done bool `json:"done,omitempty"`
}

// WatermarkOverlap is how far before its start the next run of an ongoing
// sync reads again: HubSpot takes a few moments to make a change
// searchable, and its clock is not referflow's.
const WatermarkOverlap = 5 * time.Minute
