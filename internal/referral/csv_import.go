package referral

import (
	"fmt"
	"strings"
)

// ImportKind is what a CSV import adds to a campaign (imports.kind).
type ImportKind string

// The kinds of import.
const (
	// ImportMembers: one member a row (source csv).
	ImportMembers ImportKind = "members"
	// ImportReferrals: one referral a row, of the member the row names
	// (source csv); their workflows start at the import's pace.
	ImportReferrals ImportKind = "referrals"
)

// ImportKinds lists the kinds.
var ImportKinds = []ImportKind{ImportMembers, ImportReferrals}

// ParseImportKind accepts a kind in any case.
func ParseImportKind(s string) (ImportKind, error) {
	switch k := ImportKind(strings.ToLower(strings.TrimSpace(s))); k {
	case ImportMembers, ImportReferrals:
		return k, nil
	}
	return "", fmt.Errorf("unknown import kind %q: must be members or referrals", s)
}

// ImportStatus is where a CSV import stands (imports.status): queued once
// uploaded, running while its workflow adds the rows, then completed (every
// row has an outcome, bad rows included) or failed (the import itself could
// not go on: the campaign left active, the workflow was ended).
type ImportStatus string

// The statuses of an import.
const (
	ImportQueued    ImportStatus = "queued"
	ImportRunning   ImportStatus = "running"
	ImportCompleted ImportStatus = "completed"
	ImportFailed    ImportStatus = "failed"
)

// ImportStatuses lists the statuses in order.
var ImportStatuses = []ImportStatus{ImportQueued, ImportRunning, ImportCompleted, ImportFailed}

// ImportField is a value a CSV import reads from a row. A file's columns
// are mapped to fields by their header (ImportColumns).
type ImportField string

// The fields. Members use Email, FirstName, LastName, ExternalID and
// ReferralCode; referrals use Email (the lead's), FirstName, LastName,
// Company, Phone, ExternalID and MemberCode or MemberEmail (the referring
// member).
const (
	FieldEmail        ImportField = "email"
	FieldFirstName    ImportField = "first_name"
	FieldLastName     ImportField = "last_name"
	FieldExternalID   ImportField = "external_id"
	FieldReferralCode ImportField = "referral_code"
	FieldCompany      ImportField = "company"
	FieldPhone        ImportField = "phone"
	FieldMemberCode   ImportField = "member_code"
	FieldMemberEmail  ImportField = "member_email"
)

// importHeaders maps each kind's header names (lower case, spaces, dashes
// and underscores removed) to their field.
var importHeaders = map[ImportKind]map[string]ImportField{
	ImportMembers: {
		"email": FieldEmail, "emailaddress": FieldEmail,
		"firstname": FieldFirstName, "lastname": FieldLastName,
		"externalid":   FieldExternalID,
		"referralcode": FieldReferralCode, "code": FieldReferralCode,
	},
	ImportReferrals: {
		"email": FieldEmail, "emailaddress": FieldEmail, "leademail": FieldEmail,
		"firstname": FieldFirstName, "lastname": FieldLastName,
		"company": FieldCompany, "phone": FieldPhone,
		"externalid": FieldExternalID,
		"membercode": FieldMemberCode, "referralcode": FieldMemberCode,
		"memberemail": FieldMemberEmail,
	},
}

// ImportColumns is a file's header read for a kind: the column of each
// field, and the header names ignored.
type ImportColumns struct {
	Index   map[ImportField]int
	Ignored []string
}

// Get is a row's value of field, trimmed ("" when the file has no such
// column or the row is short).
func (c ImportColumns) Get(row []string, f ImportField) string {
	i, ok := c.Index[f]
	if !ok || i >= len(row) {
		return ""
	}
	return strings.TrimSpace(row[i])
}

// MissingHeaderError says which header a file needs and lacks.
type MissingHeaderError struct {
	Kind    ImportKind
	Missing string
}

func (e *MissingHeaderError) Error() string {
	return fmt.Sprintf("a %s import needs a %s column", e.Kind, e.Missing)
}

// DuplicateHeaderError says a field has two columns: which one holds the
// value would be a guess.
type DuplicateHeaderError struct{ Header string }

func (e *DuplicateHeaderError) Error() string {
	return fmt.Sprintf("the header %q appears twice (or two headers mean the same field)", e.Header)
}

// MapImportColumns maps a file's header to fields: names are matched in any
// case, trimmed, with spaces, dashes and underscores ignored (First Name,
// first_name, firstname). A header it does not know is ignored and listed.
// A members file needs an email column; a referrals file an email column
// and member_code or member_email.
func MapImportColumns(kind ImportKind, header []string) (ImportColumns, error) {
	known := importHeaders[kind]
	cols := ImportColumns{Index: map[ImportField]int{}}
	for i, h := range header {
		name := strings.TrimPrefix(h, "\ufeff") // a spreadsheet's byte-order mark
		key := strings.NewReplacer(" ", "", "_", "", "-", "").Replace(strings.ToLower(strings.TrimSpace(name)))
		f, ok := known[key]
		if !ok {
			if strings.TrimSpace(name) != "" {
				cols.Ignored = append(cols.Ignored, strings.TrimSpace(name))
			}
			continue
		}
		if _, dup := cols.Index[f]; dup {
			return ImportColumns{}, &DuplicateHeaderError{Header: strings.TrimSpace(name)}
		}
		cols.Index[f] = i
	}
	if _, ok := cols.Index[FieldEmail]; !ok {
		return ImportColumns{}, &MissingHeaderError{Kind: kind, Missing: "email"}
	}
	if kind == ImportReferrals {
		_, code := cols.Index[FieldMemberCode]
		_, email := cols.Index[FieldMemberEmail]
		if !code && !email {
			return ImportColumns{}, &MissingHeaderError{Kind: kind, Missing: "member_code or member_email"}
		}
	}
	return cols, nil
}
