package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/referflow/referflow/internal/hubspotobject"
)

// ObjectType names a CRM object type in paths: "contacts", "line_items",
// or a custom object's "2-1234567".
type ObjectType string

// ObjectTypeOf is the path name of a record type referflow links referrals
// to: contact → contacts.
func ObjectTypeOf(t hubspotobject.Type) ObjectType { return ObjectType(t.Plural()) }

// The path names of the record types referflow reads and writes, spelled
// once, by hubspotobject.
var (
	Contacts  = ObjectTypeOf(hubspotobject.Contact)
	Deals     = ObjectTypeOf(hubspotobject.Deal)
	Companies = ObjectTypeOf(hubspotobject.Company)
)

// MaxListLimit is the most objects one list page holds.
const MaxListLimit = 100

// Object is a contact, deal or company as HubSpot sends it: IDs and every
// property value are strings (numbers and dates included); a property asked
// for that has no value is present with "".
type Object struct {
	ID         string
	Properties map[string]string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Archived   bool
	// Associations holds, per associated object type as HubSpot names it
	// ("contacts", "companies", ...), the associated objects' IDs. Filled
	// only when the read asked for associations.
	Associations map[string][]AssociatedObject
}

// AssociatedObject is one entry of an object's associations.
type AssociatedObject struct {
	ID   string
	Type string // e.g. "deal_to_contact"
}

// objectJSON is the wire shape of Object.
type objectJSON struct {
	ID           flexString         `json:"id"`
	Properties   map[string]*string `json:"properties"`
	CreatedAt    time.Time          `json:"createdAt"`
	UpdatedAt    time.Time          `json:"updatedAt"`
	Archived     bool               `json:"archived"`
	New          bool               `json:"new"`
	Associations map[string]struct {
		Results []struct {
			ID   flexString `json:"id"`
			Type string     `json:"type"`
		} `json:"results"`
	} `json:"associations"`
}

func (o objectJSON) object() Object {
	out := Object{
		ID:         string(o.ID),
		Properties: make(map[string]string, len(o.Properties)),
		CreatedAt:  o.CreatedAt,
		UpdatedAt:  o.UpdatedAt,
		Archived:   o.Archived,
	}
	for k, v := range o.Properties {
		if v != nil {
			out.Properties[k] = *v
		} else {
			out.Properties[k] = ""
		}
	}
	if len(o.Associations) > 0 {
		out.Associations = make(map[string][]AssociatedObject, len(o.Associations))
		for typ, a := range o.Associations {
			for _, r := range a.Results {
				out.Associations[typ] = append(out.Associations[typ], AssociatedObject{ID: string(r.ID), Type: r.Type})
			}
		}
	}
	return out
}

// UnmarshalJSON reads HubSpot's object shape.
func (o *Object) UnmarshalJSON(b []byte) error {
	var w objectJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*o = w.object()
	return nil
}

// GetOptions says what a read returns and how the object is identified.
type GetOptions struct {
	// Properties to return; HubSpot's defaults for the type when empty.
	Properties []string
	// Associations lists the object types whose associated IDs to return.
	Associations []ObjectType
	// IDProperty identifies the object by a unique property ("email" for
	// contacts) instead of its ID.
	IDProperty string
	// Archived reads an archived object.
	Archived bool
}

func (o GetOptions) query() url.Values {
	q := url.Values{}
	if len(o.Properties) > 0 {
		q.Set("properties", strings.Join(o.Properties, ","))
	}
	if len(o.Associations) > 0 {
		names := make([]string, len(o.Associations))
		for i, t := range o.Associations {
			names[i] = string(t)
		}
		q.Set("associations", strings.Join(names, ","))
	}
	if o.IDProperty != "" {
		q.Set("idProperty", o.IDProperty)
	}
	if o.Archived {
		q.Set("archived", "true")
	}
	return q
}

// Get reads one object by ID (or by opts.IDProperty). An unknown object is a
// *NotFoundError.
func (c *Client) Get(ctx context.Context, t ObjectType, id string, opts GetOptions) (*Object, error) {
	var out Object
	err := c.do(ctx, request{method: http.MethodGet, path: objectsPath(t, id), query: opts.query()}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetContactByEmail reads the contact whose email is email. No such contact
// is a *NotFoundError.
func (c *Client) GetContactByEmail(ctx context.Context, email string, properties ...string) (*Object, error) {
	return c.Get(ctx, Contacts, email, GetOptions{Properties: properties, IDProperty: "email"})
}

// AssociationType is one association label in a write: HubSpot-defined (the
// default, unlabeled one) or user-defined.
type AssociationType struct {
	Category string `json:"associationCategory"`
	TypeID   int    `json:"associationTypeId"`
}

// Association categories.
const (
	HubSpotDefined     = "HUBSPOT_DEFINED"
	UserDefined        = "USER_DEFINED"
	IntegratorDefined  = "INTEGRATOR_DEFINED"
	defaultAssociation = HubSpotDefined
)

// HubSpot-defined association type IDs (one per direction).
const (
	DealToContact    = 3
	ContactToDeal    = 4
	ContactToCompany = 279
	CompanyToContact = 280
)

// AssociationInput associates an object being created with an existing one.
type AssociationInput struct {
	ToID  string
	Types []AssociationType
}

// AssociateWith is the association input for a HubSpot-defined type, e.g.
// AssociateWith(contactID, DealToContact) when creating a deal.
func AssociateWith(toID string, typeID int) AssociationInput {
	return AssociationInput{ToID: toID, Types: []AssociationType{{Category: defaultAssociation, TypeID: typeID}}}
}

// MarshalJSON writes HubSpot's {"to":{"id"},"types":[...]} shape.
func (a AssociationInput) MarshalJSON() ([]byte, error) {
	type objectID struct {
		ID string `json:"id"`
	}
	return json.Marshal(struct {
		To    objectID          `json:"to"`
		Types []AssociationType `json:"types"`
	}{To: objectID{ID: a.ToID}, Types: a.Types})
}

// CreateInput is one object to create.
type CreateInput struct {
	Properties   map[string]string  `json:"properties"`
	Associations []AssociationInput `json:"associations,omitempty"`
}

// Create creates one object, with its associations.
func (c *Client) Create(ctx context.Context, t ObjectType, in CreateInput) (*Object, error) {
	in.Properties = orEmpty(in.Properties)
	var out Object
	if err := c.do(ctx, request{method: http.MethodPost, path: objectsPath(t), body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Update sets properties on one object (PATCH: the others are kept; "" clears
// a property).
func (c *Client) Update(ctx context.Context, t ObjectType, id string, properties map[string]string) (*Object, error) {
	var out Object
	body := map[string]any{"properties": orEmpty(properties)}
	if err := c.do(ctx, request{method: http.MethodPatch, path: objectsPath(t, id), body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Archive moves one object to the recycle bin.
func (c *Client) Archive(ctx context.Context, t ObjectType, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: objectsPath(t, id)}, nil)
}

// ListOptions pages through all objects of a type.
type ListOptions struct {
	Limit        int    // at most MaxListLimit; HubSpot's default (10) when 0
	After        string // the cursor from the previous page
	Properties   []string
	Associations []ObjectType
	Archived     bool
}

// ObjectPage is one page of objects; After is the next page's cursor, empty
// on the last page.
type ObjectPage struct {
	Results []Object
	After   string
}

// List reads one page of objects of a type, oldest first.
func (c *Client) List(ctx context.Context, t ObjectType, opts ListOptions) (*ObjectPage, error) {
	if opts.Limit < 0 || opts.Limit > MaxListLimit {
		return nil, fmt.Errorf("%w: list limit %d: HubSpot allows 1 to %d", ErrInvalidRequest, opts.Limit, MaxListLimit)
	}
	q := GetOptions{Properties: opts.Properties, Associations: opts.Associations, Archived: opts.Archived}.query()
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.After != "" {
		q.Set("after", opts.After)
	}
	var out struct {
		Results []Object `json:"results"`
		Paging  *paging  `json:"paging"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: objectsPath(t), query: q}, &out); err != nil {
		return nil, err
	}
	return &ObjectPage{Results: out.Results, After: out.Paging.after()}, nil
}
