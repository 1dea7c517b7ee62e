package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/personaldata"
)

// Reading the HubSpot record a sales entry is about, with what matching
// needs, on the HubSpot task queue; matching itself (database only) is in
// sales_matching.go.

// ReadObjectInput names the object to read and the properties matching
// needs (SalesEntry.ReadProperties).
type ReadObjectInput struct {
	WorkspaceID string
	ObjectType  hubspotobject.Type
	ObjectID    int64
	Properties  map[hubspotobject.Type][]string
}

// MatchObject is a HubSpot object as matching sees it.
type MatchObject struct {
	ObjectType hubspotobject.Type
	ObjectID   int64
	// Missing is set when HubSpot no longer has the object (404).
	Missing bool `json:",omitempty"`
	// Properties are the values read ("" when unset).
	Properties map[string]string `json:",omitempty" personal:""`
	// Contacts are, for a deal or a company, its associated contacts (the
	// first few) with their properties.
	Contacts []MatchContact `json:",omitempty" personal:""`
	// CompanyDomains are, for a contact, its associated companies' domains.
	CompanyDomains []string `json:",omitempty" personal:""`
}

// Person is whose personal data the object holds: a contact's email, or
// its first associated contact's ("" when none has one).
func (o MatchObject) Person() string {
	if e := o.Properties["email"]; e != "" {
		return e
	}
	for _, c := range o.Contacts {
		if e := c.Properties["email"]; e != "" {
			return e
		}
	}
	return ""
}

// MarshalJSON seals the object's values under its person's key in
// Temporal's histories (internal/personaldata).
func (o MatchObject) MarshalJSON() ([]byte, error) {
	type plain MatchObject
	return personaldata.MarshalFields(plain(o), o.Person())
}

// UnmarshalJSON reads what MarshalJSON wrote; an erased person's values
// read as none.
func (o *MatchObject) UnmarshalJSON(b []byte) error {
	type plain MatchObject
	_, err := personaldata.UnmarshalFields(b, (*plain)(o))
	return err
}

// MatchContact is a contact associated with the object.
type MatchContact struct {
	ID         int64
	Properties map[string]string
}

// maxAssociatedReads bounds the associated records read per object: a deal
// has one or two contacts in practice; more would not change the match.
const maxAssociatedReads = 5

// ReadSalesEntryObject reads the object a sales entry is about with the
// properties matching needs, and its associations: a contact's companies
// (their domain), a deal's or company's contacts. An object HubSpot no
// longer has comes back with Missing set; other errors go through
// hubspot.TemporalError.
func (h *HubSpot) ReadSalesEntryObject(ctx context.Context, in ReadObjectInput) (MatchObject, error) {
	ws, err := parseWorkspaceID(in.WorkspaceID)
	if err != nil {
		return MatchObject{}, err
	}
	if !in.ObjectType.Known() {
		return MatchObject{}, temporal.NewNonRetryableApplicationError("unknown HubSpot object type "+string(in.ObjectType), "InvalidInput", nil)
	}
	t := hubspot.ObjectTypeOf(in.ObjectType)
	c, err := h.client(ctx, ws)
	if err != nil {
		return MatchObject{}, err
	}
	out := MatchObject{ObjectType: in.ObjectType, ObjectID: in.ObjectID}
	assoc := hubspot.Contacts
	if in.ObjectType == hubspotobject.Contact {
		assoc = hubspot.Companies
	}
	obj, err := c.Get(ctx, t, strconv.FormatInt(in.ObjectID, 10), hubspot.GetOptions{
		Properties: in.Properties[in.ObjectType], Associations: []hubspot.ObjectType{assoc},
	})
	var notFound *hubspot.NotFoundError
	if errors.As(err, &notFound) {
		out.Missing = true
		return out, nil
	}
	if err != nil {
		return MatchObject{}, hubspot.TemporalError(fmt.Errorf("read %s %d: %w", in.ObjectType, in.ObjectID, err))
	}
	out.Properties = obj.Properties
	var ids []string
	for _, a := range obj.Associations[string(assoc)] {
		if !slices.Contains(ids, a.ID) {
			ids = append(ids, a.ID)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return compareIDs(a, b) })
	if len(ids) > maxAssociatedReads {
		ids = ids[:maxAssociatedReads]
	}
	if len(ids) == 0 {
		return out, nil
	}
	props := in.Properties[hubspotobject.Contact]
	if assoc == hubspot.Companies {
		props = []string{"domain"}
	}
	read, err := c.BatchRead(ctx, assoc, ids, hubspot.BatchReadOptions{Properties: props})
	if err != nil {
		return MatchObject{}, hubspot.TemporalError(fmt.Errorf("read the %s associated with %s %d: %w", assoc, in.ObjectType, in.ObjectID, err))
	}
	slices.SortFunc(read.Results, func(a, b hubspot.Object) int { return compareIDs(a.ID, b.ID) })
	for _, r := range read.Results {
		if assoc == hubspot.Companies {
			if d := normalizeDomain(r.Properties["domain"]); d != "" && !slices.Contains(out.CompanyDomains, d) {
				out.CompanyDomains = append(out.CompanyDomains, d)
			}
			continue
		}
		id, err := strconv.ParseInt(r.ID, 10, 64)
		if err != nil {
			continue
		}
		out.Contacts = append(out.Contacts, MatchContact{ID: id, Properties: r.Properties})
	}
	return out, nil
}

// compareIDs orders numeric IDs as numbers (oldest record first).
func compareIDs(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
