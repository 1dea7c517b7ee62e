package hubspot

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// Property types and field types. HubSpot accepts these pairs: string with
// text, textarea, phonenumber, html or file; number with number; enumeration
// with select, radio, checkbox or booleancheckbox; bool with
// booleancheckbox; date and datetime with date.
const (
	TypeString      = "string"
	TypeNumber      = "number"
	TypeEnumeration = "enumeration"
	TypeBool        = "bool"
	TypeDate        = "date"
	TypeDateTime    = "datetime"

	FieldText            = "text"
	FieldTextarea        = "textarea"
	FieldPhoneNumber     = "phonenumber"
	FieldHTML            = "html"
	FieldFile            = "file"
	FieldNumber          = "number"
	FieldSelect          = "select"
	FieldRadio           = "radio"
	FieldCheckbox        = "checkbox"
	FieldBooleanCheckbox = "booleancheckbox"
	FieldDate            = "date"
)

// Property describes one property of an object type. Enumeration properties
// carry Options: rules match an option's Value, the UI shows its Label.
type Property struct {
	Name           string           `json:"name"`
	Label          string           `json:"label"`
	Type           string           `json:"type"`
	FieldType      string           `json:"fieldType"`
	GroupName      string           `json:"groupName"`
	Description    string           `json:"description,omitempty"`
	Options        []PropertyOption `json:"options,omitempty"`
	DisplayOrder   int              `json:"displayOrder,omitempty"`
	HasUniqueValue bool             `json:"hasUniqueValue,omitempty"`
	Hidden         bool             `json:"hidden,omitempty"`
	FormField      bool             `json:"formField,omitempty"`
	// Set by HubSpot, ignored on create.
	HubSpotDefined bool `json:"hubspotDefined,omitempty"`
	Calculated     bool `json:"calculated,omitempty"`
	Archived       bool `json:"archived,omitempty"`
}

// PropertyOption is one choice of an enumeration property.
type PropertyOption struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	Description  string `json:"description,omitempty"`
	DisplayOrder int    `json:"displayOrder,omitempty"`
	Hidden       bool   `json:"hidden,omitempty"`
}

// PropertyGroup groups properties in HubSpot's UI.
type PropertyGroup struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder,omitempty"`
	Archived     bool   `json:"archived,omitempty"`
}

func propertiesPath(t ObjectType, segments ...string) string {
	return "/crm/properties/" + APIVersion + "/" + url.PathEscape(string(t)) + joinSegments(segments)
}

// ListProperties reads every property of an object type.
func (c *Client) ListProperties(ctx context.Context, t ObjectType) ([]Property, error) {
	var out struct {
		Results []Property `json:"results"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: propertiesPath(t)}, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// GetProperty reads one property; an unknown name is a *NotFoundError.
func (c *Client) GetProperty(ctx context.Context, t ObjectType, name string) (*Property, error) {
	var out Property
	if err := c.do(ctx, request{method: http.MethodGet, path: propertiesPath(t, name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateProperty creates a property; one that exists is a *ConflictError.
func (c *Client) CreateProperty(ctx context.Context, t ObjectType, p Property) (*Property, error) {
	body := p
	body.HubSpotDefined, body.Calculated, body.Archived = false, false, false
	var out Property
	if err := c.do(ctx, request{method: http.MethodPost, path: propertiesPath(t), body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EnsureProperty creates a property unless one of that name exists, and
// returns the property as HubSpot has it and whether this call created it.
// An existing property is left as it is, even if it differs from p.
func (c *Client) EnsureProperty(ctx context.Context, t ObjectType, p Property) (*Property, bool, error) {
	created, err := c.CreateProperty(ctx, t, p)
	if err == nil {
		return created, true, nil
	}
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		return nil, false, err
	}
	existing, err := c.GetProperty(ctx, t, p.Name)
	if err != nil {
		return nil, false, err
	}
	return existing, false, nil
}

// ListPropertyGroups reads every property group of an object type.
func (c *Client) ListPropertyGroups(ctx context.Context, t ObjectType) ([]PropertyGroup, error) {
	var out struct {
		Results []PropertyGroup `json:"results"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: propertiesPath(t, "groups")}, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// GetPropertyGroup reads one property group; an unknown name is a
// *NotFoundError.
func (c *Client) GetPropertyGroup(ctx context.Context, t ObjectType, name string) (*PropertyGroup, error) {
	var out PropertyGroup
	if err := c.do(ctx, request{method: http.MethodGet, path: propertiesPath(t, "groups", name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreatePropertyGroup creates a property group; one that exists is a
// *ConflictError.
func (c *Client) CreatePropertyGroup(ctx context.Context, t ObjectType, g PropertyGroup) (*PropertyGroup, error) {
	g.Archived = false
	var out PropertyGroup
	if err := c.do(ctx, request{method: http.MethodPost, path: propertiesPath(t, "groups"), body: g}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EnsurePropertyGroup creates a property group unless one of that name
// exists, and returns the group as HubSpot has it and whether this call
// created it.
func (c *Client) EnsurePropertyGroup(ctx context.Context, t ObjectType, g PropertyGroup) (*PropertyGroup, bool, error) {
	created, err := c.CreatePropertyGroup(ctx, t, g)
	if err == nil {
		return created, true, nil
	}
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		return nil, false, err
	}
	existing, err := c.GetPropertyGroup(ctx, t, g.Name)
	if err != nil {
		return nil, false, err
	}
	return existing, false, nil
}
