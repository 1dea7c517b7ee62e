package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// MaxAssociationsLimit is the most associations one page holds.
const MaxAssociationsLimit = 500

// Association is one object associated with another, with every label
// between the two.
type Association struct {
	ToObjectID string
	Types      []AssociationLabel
}

// AssociationLabel is one association type between two objects.
type AssociationLabel struct {
	Category string // HubSpotDefined, UserDefined, IntegratorDefined
	TypeID   int
	Label    string // empty for the default, unlabeled type
}

// AssociationPage is one page of an object's associations; After is the next
// page's cursor, empty on the last page.
type AssociationPage struct {
	Results []Association
	After   string
}

// associationPath is the record-level associations path of HubSpot's 2026-03
// reference, /crm/objects/2026-03/{from}/{id}/associations/... (the v4
// /crm/v4/objects/... structure under the dated objects prefix).
func associationPath(from ObjectType, fromID string, segments ...string) string {
	return objectsPath(from, append([]string{fromID, "associations"}, segments...)...)
}

// AssociateDefault creates the default (unlabeled, HubSpot-defined)
// association between two objects, in both directions: a deal and a contact
// get deal→contact (3) and contact→deal (4). Associating twice is harmless.
func (c *Client) AssociateDefault(ctx context.Context, from ObjectType, fromID string, to ObjectType, toID string) error {
	return c.do(ctx, request{method: http.MethodPut, path: associationPath(from, fromID, "default", string(to), toID)}, nil)
}

// Associate creates labelled associations from one object to another, e.g.
// Associate(ctx, Contacts, id, Companies, companyID, AssociationType{HubSpotDefined, ContactToCompany}).
func (c *Client) Associate(ctx context.Context, from ObjectType, fromID string, to ObjectType, toID string, types ...AssociationType) error {
	if len(types) == 0 {
		return fmt.Errorf("%w: associate %s %s with %s %s: no association type", ErrInvalidRequest, from, fromID, to, toID)
	}
	return c.do(ctx, request{method: http.MethodPut, path: associationPath(from, fromID, string(to), toID), body: types}, nil)
}

// AssociationListOptions pages through an object's associations.
type AssociationListOptions struct {
	Limit int // at most MaxAssociationsLimit; HubSpot's default when 0
	After string
}

// ListAssociations reads one page of the objects of type to associated with
// one object.
func (c *Client) ListAssociations(ctx context.Context, from ObjectType, fromID string, to ObjectType, opts AssociationListOptions) (*AssociationPage, error) {
	if opts.Limit < 0 || opts.Limit > MaxAssociationsLimit {
		return nil, fmt.Errorf("%w: associations limit %d: HubSpot allows 1 to %d", ErrInvalidRequest, opts.Limit, MaxAssociationsLimit)
	}
	q := url.Values{}
	if opts.Limit > 0 {
		q["limit"] = []string{strconv.Itoa(opts.Limit)}
	}
	if opts.After != "" {
		q["after"] = []string{opts.After}
	}
	var out struct {
		Results []struct {
			ToObjectID       flexString `json:"toObjectId"`
			AssociationTypes []struct {
				Category string  `json:"category"`
				TypeID   int     `json:"typeId"`
				Label    *string `json:"label"`
			} `json:"associationTypes"`
		} `json:"results"`
		Paging *paging `json:"paging"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: associationPath(from, fromID, string(to)), query: q}, &out); err != nil {
		return nil, err
	}
	page := &AssociationPage{After: out.Paging.after()}
	for _, r := range out.Results {
		a := Association{ToObjectID: string(r.ToObjectID)}
		for _, t := range r.AssociationTypes {
			l := AssociationLabel{Category: t.Category, TypeID: t.TypeID}
			if t.Label != nil {
				l.Label = *t.Label
			}
			a.Types = append(a.Types, l)
		}
		page.Results = append(page.Results, a)
	}
	return page, nil
}

// RemoveAssociations removes every association between two objects, in both
// directions.
func (c *Client) RemoveAssociations(ctx context.Context, from ObjectType, fromID string, to ObjectType, toID string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: associationPath(from, fromID, string(to), toID)}, nil)
}

// associationLabelsPath is the association schema's labels path of HubSpot's
// 2026-03 reference, /crm/associations/2026-03/{from}/{to}/labels (the v4
// /crm/v4/associations/{from}/{to}/labels under the dated prefix).
func associationLabelsPath(from, to ObjectType) string {
	return "/crm/associations/" + APIVersion + joinSegments([]string{string(from), string(to), "labels"})
}

// ListAssociationLabels reads every association type from one object type
// to another: HubSpot's own (the unlabeled default has an empty Label) and
// the portal's labels (Category UserDefined).
func (c *Client) ListAssociationLabels(ctx context.Context, from, to ObjectType) ([]AssociationLabel, error) {
	var out labelsJSON
	if err := c.do(ctx, request{method: http.MethodGet, path: associationLabelsPath(from, to)}, &out); err != nil {
		return nil, err
	}
	return out.labels(), nil
}

// NewAssociationLabel defines a label between two object types. Name is its
// internal name (lowercase letters, digits, underscores), unique per pair of
// object types. With InverseLabel it is a paired label: Label names the
// to-object seen from the from-object, InverseLabel the other way round.
type NewAssociationLabel struct {
	Label        string `json:"label"`
	Name         string `json:"name"`
	InverseLabel string `json:"inverseLabel,omitempty"`
}

// CreateAssociationLabel defines a label and returns the association types
// HubSpot made for it (one per direction; one only for a single label
// between records of one type). A name already taken is a *ConflictError.
func (c *Client) CreateAssociationLabel(ctx context.Context, from, to ObjectType, in NewAssociationLabel) ([]AssociationLabel, error) {
	if in.Label == "" || in.Name == "" {
		return nil, fmt.Errorf("%w: an association label needs a label and a name", ErrInvalidRequest)
	}
	var out labelsJSON
	if err := c.do(ctx, request{method: http.MethodPost, path: associationLabelsPath(from, to), body: in}, &out); err != nil {
		return nil, err
	}
	return out.labels(), nil
}

// labelsJSON is the labels endpoints' answer: {"results":[{category, typeId, label}]}.
type labelsJSON struct {
	Results []struct {
		Category string  `json:"category"`
		TypeID   int     `json:"typeId"`
		Label    *string `json:"label"`
	} `json:"results"`
}

func (o labelsJSON) labels() []AssociationLabel {
	out := make([]AssociationLabel, 0, len(o.Results))
	for _, r := range o.Results {
		l := AssociationLabel{Category: r.Category, TypeID: r.TypeID}
		if r.Label != nil {
			l.Label = *r.Label
		}
		out = append(out, l)
	}
	return out
}
