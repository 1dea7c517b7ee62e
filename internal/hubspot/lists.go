package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// List processing types.
const (
	ListManual   = "MANUAL"   // members added and removed by hand (static)
	ListDynamic  = "DYNAMIC"  // members follow the list's filters (active)
	ListSnapshot = "SNAPSHOT" // filters applied once, then manual
)

// Object type IDs lists use.
const (
	ContactObjectTypeID = "0-1"
	CompanyObjectTypeID = "0-2"
	DealObjectTypeID    = "0-3"
)

// MaxMembershipsLimit is the most memberships one page holds.
const MaxMembershipsLimit = 250

// List is a HubSpot list (segment) of records.
type List struct {
	ListID           string
	Name             string
	ProcessingType   string // ListManual, ListDynamic or ListSnapshot
	ProcessingStatus string
	ObjectTypeID     string // ContactObjectTypeID, ...
	ListVersion      int
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// AdditionalProperties holds list properties such as hs_list_size.
	AdditionalProperties map[string]string
	// Size is the member count, when HubSpot gave one.
	Size int
}

type listJSON struct {
	ListID               flexString            `json:"listId"`
	Name                 string                `json:"name"`
	ProcessingType       string                `json:"processingType"`
	ProcessingStatus     string                `json:"processingStatus"`
	ObjectTypeID         string                `json:"objectTypeId"`
	ListVersion          int                   `json:"listVersion"`
	CreatedAt            time.Time             `json:"createdAt"`
	UpdatedAt            time.Time             `json:"updatedAt"`
	AdditionalProperties map[string]flexString `json:"additionalProperties"`
	Size                 *int                  `json:"size"`
}

func (l listJSON) list() List {
	out := List{
		ListID:           string(l.ListID),
		Name:             l.Name,
		ProcessingType:   l.ProcessingType,
		ProcessingStatus: l.ProcessingStatus,
		ObjectTypeID:     l.ObjectTypeID,
		ListVersion:      l.ListVersion,
		CreatedAt:        l.CreatedAt,
		UpdatedAt:        l.UpdatedAt,
	}
	if len(l.AdditionalProperties) > 0 {
		out.AdditionalProperties = make(map[string]string, len(l.AdditionalProperties))
		for k, v := range l.AdditionalProperties {
			out.AdditionalProperties[k] = string(v)
		}
	}
	switch {
	case l.Size != nil:
		out.Size = *l.Size
	case out.AdditionalProperties["hs_list_size"] != "":
		out.Size, _ = strconv.Atoi(out.AdditionalProperties["hs_list_size"])
	}
	return out
}

func listsPath(segments ...string) string {
	return "/crm/lists/" + APIVersion + joinSegments(segments)
}

// ListSearchRequest finds lists by name and processing type.
type ListSearchRequest struct {
	Query           string   `json:"query,omitempty"`
	ProcessingTypes []string `json:"processingTypes,omitempty"`
	ListIDs         []string `json:"listIds,omitempty"`
	// Offset is the previous page's Offset; Count the page length (HubSpot's
	// default 20 when 0, at most 500).
	Offset int `json:"offset,omitempty"`
	Count  int `json:"count,omitempty"`
}

// ListSearchPage is one page of list search results; pass Offset in the next
// request while HasMore.
type ListSearchPage struct {
	Lists   []List
	Total   int
	Offset  int
	HasMore bool
}

// SearchLists finds lists.
func (c *Client) SearchLists(ctx context.Context, req ListSearchRequest) (*ListSearchPage, error) {
	if req.Count < 0 || req.Count > 500 {
		return nil, fmt.Errorf("%w: list search count %d: HubSpot allows 1 to 500", ErrInvalidRequest, req.Count)
	}
	var out struct {
		Lists   []listJSON `json:"lists"`
		Total   int        `json:"total"`
		Offset  int        `json:"offset"`
		HasMore bool       `json:"hasMore"`
	}
	if err := c.do(ctx, request{method: http.MethodPost, path: listsPath("search"), body: req}, &out); err != nil {
		return nil, err
	}
	page := &ListSearchPage{Total: out.Total, Offset: out.Offset, HasMore: out.HasMore}
	for _, l := range out.Lists {
		page.Lists = append(page.Lists, l.list())
	}
	return page, nil
}

// GetList reads one list; an unknown ID is a *NotFoundError.
func (c *Client) GetList(ctx context.Context, listID string) (*List, error) {
	var out struct {
		List listJSON `json:"list"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: listsPath(listID)}, &out); err != nil {
		return nil, err
	}
	l := out.List.list()
	return &l, nil
}

// Membership is one record in a list.
type Membership struct {
	RecordID string
	// AddedAt is when the record joined the list, when HubSpot says.
	AddedAt time.Time
}

// MembershipPage is one page of a list's members, ordered by record ID;
// After is the next page's cursor, empty on the last page.
type MembershipPage struct {
	Results []Membership
	After   string
}

// MembershipOptions pages through a list's members.
type MembershipOptions struct {
	Limit int // at most MaxMembershipsLimit; HubSpot's default when 0
	After string
}

// ListMemberships reads one page of a list's members.
func (c *Client) ListMemberships(ctx context.Context, listID string, opts MembershipOptions) (*MembershipPage, error) {
	if opts.Limit < 0 || opts.Limit > MaxMembershipsLimit {
		return nil, fmt.Errorf("%w: memberships limit %d: HubSpot allows 1 to %d", ErrInvalidRequest, opts.Limit, MaxMembershipsLimit)
	}
	q := url.Values{}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.After != "" {
		q.Set("after", opts.After)
	}
	var out struct {
		Results []struct {
			RecordID            flexString `json:"recordId"`
			MembershipTimestamp time.Time  `json:"membershipTimestamp"`
		} `json:"results"`
		Paging *paging `json:"paging"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: listsPath(listID, "memberships"), query: q}, &out); err != nil {
		return nil, err
	}
	page := &MembershipPage{After: out.Paging.after()}
	for _, r := range out.Results {
		page.Results = append(page.Results, Membership{RecordID: string(r.RecordID), AddedAt: r.MembershipTimestamp})
	}
	return page, nil
}
