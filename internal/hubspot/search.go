package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// HubSpot's search limits.
const (
	MaxSearchLimit       = 200    // results per page
	MaxFilterGroups      = 5      // groups per search (ORed)
	MaxFiltersPerGroup   = 6      // filters per group (ANDed)
	MaxFilters           = 18     // filters per search, all groups together
	SearchResultCap      = 10_000 // results one search can page through
	defaultSearchPageLen = 100
)

// Filter operators.
const (
	OpEQ               = "EQ"
	OpNEQ              = "NEQ"
	OpLT               = "LT"
	OpLTE              = "LTE"
	OpGT               = "GT"
	OpGTE              = "GTE"
	OpBetween          = "BETWEEN"
	OpIn               = "IN"
	OpNotIn            = "NOT_IN"
	OpHasProperty      = "HAS_PROPERTY"
	OpNotHasProperty   = "NOT_HAS_PROPERTY"
	OpContainsToken    = "CONTAINS_TOKEN"
	OpNotContainsToken = "NOT_CONTAINS_TOKEN"
)

// Filter is one condition on a property. Value is for the comparison
// operators, Values for IN and NOT_IN, Value and HighValue for BETWEEN.
type Filter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        string   `json:"value,omitempty"`
	HighValue    string   `json:"highValue,omitempty"`
	Values       []string `json:"values,omitempty"`
}

// FilterGroup's filters are ANDed; a search's groups are ORed.
type FilterGroup struct {
	Filters []Filter `json:"filters"`
}

// Sort orders search results by one property.
type Sort struct {
	PropertyName string
	Descending   bool
}

// SearchRequest is one search page request.
type SearchRequest struct {
	FilterGroups []FilterGroup
	// Sort is HubSpot's one sort; results come in HubSpot's order when nil.
	Sort *Sort
	// Query searches the default searchable properties.
	Query      string
	Properties []string
	// Limit is the page length, at most MaxSearchLimit (100 when 0).
	Limit int
	// After is the cursor from the previous page.
	After string
}

func (r SearchRequest) validate() error {
	if r.Limit < 0 || r.Limit > MaxSearchLimit {
		return fmt.Errorf("%w: search limit %d: HubSpot allows 1 to %d results a page", ErrInvalidRequest, r.Limit, MaxSearchLimit)
	}
	if len(r.FilterGroups) > MaxFilterGroups {
		return fmt.Errorf("%w: %d filter groups: HubSpot allows %d", ErrInvalidRequest, len(r.FilterGroups), MaxFilterGroups)
	}
	n := 0
	for i, g := range r.FilterGroups {
		if len(g.Filters) > MaxFiltersPerGroup {
			return fmt.Errorf("%w: %d filters in group %d: HubSpot allows %d a group", ErrInvalidRequest, len(g.Filters), i+1, MaxFiltersPerGroup)
		}
		n += len(g.Filters)
	}
	if n > MaxFilters {
		return fmt.Errorf("%w: %d filters: HubSpot allows %d across all groups", ErrInvalidRequest, n, MaxFilters)
	}
	return nil
}

// MarshalJSON writes HubSpot's search body.
func (r SearchRequest) MarshalJSON() ([]byte, error) {
	type sortJSON struct {
		PropertyName string `json:"propertyName"`
		Direction    string `json:"direction"`
	}
	body := struct {
		FilterGroups []FilterGroup `json:"filterGroups"`
		Sorts        []sortJSON    `json:"sorts,omitempty"`
		Query        string        `json:"query,omitempty"`
		Properties   []string      `json:"properties,omitempty"`
		Limit        int           `json:"limit"`
		After        string        `json:"after,omitempty"`
	}{FilterGroups: r.FilterGroups, Query: r.Query, Properties: r.Properties, Limit: r.Limit, After: r.After}
	if body.FilterGroups == nil {
		body.FilterGroups = []FilterGroup{}
	}
	if body.Limit == 0 {
		body.Limit = defaultSearchPageLen
	}
	if r.Sort != nil {
		dir := "ASCENDING"
		if r.Sort.Descending {
			dir = "DESCENDING"
		}
		body.Sorts = []sortJSON{{PropertyName: r.Sort.PropertyName, Direction: dir}}
	}
	return json.Marshal(body)
}

// SearchPage is one page of search results. Total is how many objects match
// in all; After is the next page's cursor, empty on the last page.
type SearchPage struct {
	Total   int
	Results []Object
	After   string
}

// Search reads one page of objects matching req. Newly written objects can
// take a few moments to be found.
func (c *Client) Search(ctx context.Context, t ObjectType, req SearchRequest) (*SearchPage, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	var out struct {
		Total   int      `json:"total"`
		Results []Object `json:"results"`
		Paging  *paging  `json:"paging"`
	}
	if err := c.do(ctx, request{method: http.MethodPost, path: objectsPath(t, "search"), body: req, kind: searchCall}, &out); err != nil {
		return nil, err
	}
	return &SearchPage{Total: out.Total, Results: out.Results, After: out.Paging.after()}, nil
}

// SearchCapError says a search matched more objects than HubSpot lets one
// search page through (SearchResultCap): the pages up to the cap were
// delivered; narrow the filter (for an incremental sync, a modification date
// window, split further when more than the cap share one timestamp) to read
// the rest.
type SearchCapError struct {
	Type      ObjectType
	Total     int // what HubSpot said matched
	Delivered int // what was handed to the callback
}

func (e *SearchCapError) Error() string {
	return fmt.Sprintf("hubspot: search of %s matched %d objects; HubSpot pages through at most %d per search and %d were delivered: narrow the filter to read the rest",
		e.Type, e.Total, SearchResultCap, e.Delivered)
}

// SearchAll pages through every object matching req (from req.After), calling
// fn with each page in order. It stops at fn's first error and returns it,
// and stops with a *SearchCapError when the next page would pass HubSpot's
// cap of SearchResultCap results.
func (c *Client) SearchAll(ctx context.Context, t ObjectType, req SearchRequest, fn func(*SearchPage) error) error {
	delivered, total := 0, 0
	for {
		page, err := c.Search(ctx, t, req)
		if err != nil {
			// Paging past the cap is a 400; answer it as the cap it is.
			var v *ValidationError
			if errors.As(err, &v) && pastCap(req.After) {
				return &SearchCapError{Type: t, Total: total, Delivered: delivered}
			}
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		delivered, total = delivered+len(page.Results), page.Total
		if page.After == "" || len(page.Results) == 0 || (page.Total > 0 && delivered >= page.Total) {
			return nil
		}
		if delivered >= SearchResultCap || pastCap(page.After) {
			return &SearchCapError{Type: t, Total: page.Total, Delivered: delivered}
		}
		req.After = page.After
	}
}

// pastCap reports whether a search cursor (HubSpot's is the offset) is at or
// past the cap.
func pastCap(after string) bool {
	n, err := strconv.Atoi(after)
	return err == nil && n >= SearchResultCap
}
