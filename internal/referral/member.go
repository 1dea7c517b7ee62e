package referral

import (
	"crypto/rand"
	"regexp"
	"strings"
)

// MemberSource is the way a member joined a campaign (members.source).
type MemberSource string

// The ways a member joins.
const (
	// MemberSourceAPI: POST /api/v1/campaigns/{id}/members.
	MemberSourceAPI MemberSource = "api"
	// MemberSourceJoinPage: the campaign's join page (/c/{slug}/join).
	MemberSourceJoinPage MemberSource = "join_page"
	// MemberSourceCSV: a row of a members CSV import.
	MemberSourceCSV MemberSource = "csv"
	// MemberSourceSync: a HubSpot contact sync.
	MemberSourceSync MemberSource = "sync"
	// MemberSourceAdmin: an admin, by hand.
	MemberSourceAdmin MemberSource = "admin"
	// MemberSourceHubSpot: a HubSpot event enrolled the contact (a
	// campaign's process_rules.enrol_members), through the Sales Receiver.
	MemberSourceHubSpot MemberSource = "hubspot"
)

// WritesBackItself tells whether members who join this way are written to
// HubSpot by their way in: a contact sync's members already have their
// contact, and the sync writes their links back in batches itself. Such a
// member gets no member workflow (workflows/member.go).
func (s MemberSource) WritesBackItself() bool { return s == MemberSourceSync }

// FromHubSpot tells whether members who join this way were brought in from
// HubSpot (a contact sync, an enrolment on a HubSpot event) rather than
// asking to join: they get a welcome email only when an admin invites them.
func (s MemberSource) FromHubSpot() bool { return s == MemberSourceSync || s == MemberSourceHubSpot }

// CodePattern is what a referral code may hold: 1 to 64 letters, digits, -
// or _ (the members table's check): it goes into links.
var CodePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// codeAlphabet leaves out characters people confuse (0/O, 1/I/L).
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// NewCode is a new member's referral code: their first name (letters and
// digits, at most 8) and four random characters, e.g. MAYA-7Q2K: readable
// when shared aloud.
func NewCode(firstName string) string {
	var prefix strings.Builder
	for _, r := range strings.ToUpper(firstName) {
		if prefix.Len() >= 8 {
			break
		}
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			prefix.WriteRune(r)
		}
	}
	if prefix.Len() == 0 {
		prefix.WriteString("REF")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	suffix := make([]byte, 4)
	for i := range b {
		suffix[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return prefix.String() + "-" + string(suffix)
}
