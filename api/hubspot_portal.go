package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// PortalCacheTTL is how long the connected portal's properties, pipelines
// and lists are kept in the api process before HubSpot is asked again;
// ?refresh=true asks at once (the admin's refresh button).
const PortalCacheTTL = 60 * time.Second

// portalReadTimeout bounds one read of the portal's setup, limiter wait
// included.
const portalReadTimeout = 20 * time.Second

// portalCache keeps what the connected portal answered, per workspace,
// portal and kind of read (a reconnect to another portal misses).
type portalCache struct {
	mu      sync.Mutex
	entries map[portalCacheKey]portalCacheEntry
}

type portalCacheKey struct {
	workspace uuid.UUID
	portal    int64
	what      string // "properties:contact", "pipelines", "lists"
}

type portalCacheEntry struct {
	at    time.Time
	value any
}

func (pc *portalCache) get(k portalCacheKey, now time.Time) (any, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e, ok := pc.entries[k]
	if !ok || now.Sub(e.at) >= PortalCacheTTL || now.Before(e.at) {
		return nil, false
	}
	return e.value, true
}

func (pc *portalCache) put(k portalCacheKey, now time.Time, v any) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.entries == nil {
		pc.entries = map[portalCacheKey]portalCacheEntry{}
	}
	for key, e := range pc.entries { // drop what has expired, so the map stays small
		if now.Sub(e.at) >= PortalCacheTTL {
			delete(pc.entries, key)
		}
	}
	pc.entries[k] = portalCacheEntry{at: now, value: v}
}

// portalRead answers what from the cache, or reads it from the workspace's
// connected portal through read (every call waits on the portal's rate
// limiter like any HubSpot call) and caches it. Errors are *APIError:
// not connected or broken is 409, HubSpot failing 502 or 503.
func portalRead[T any](ctx context.Context, s *Server, ws uuid.UUID, what string, refresh bool, read func(context.Context, *hubspot.Client) (T, error)) (T, error) {
	var zero T
	if s.deps.HubSpot == nil {
		return zero, NewError(http.StatusServiceUnavailable, "unavailable", errHubSpotUnconfigured)
	}
	ctx, cancel := context.WithTimeout(ctx, portalReadTimeout)
	defer cancel()
	client, portalID, err := s.deps.HubSpot.Client(ctx, ws)
	if err != nil {
		return zero, portalError(err)
	}
	key := portalCacheKey{workspace: ws, portal: portalID, what: what}
	if !refresh {
		if v, ok := s.portal.get(key, time.Now()); ok {
			return v.(T), nil
		}
	}
	v, err := read(ctx, client)
	if err != nil {
		return zero, portalError(err)
	}
	s.portal.put(key, time.Now(), v)
	return v, nil
}

// errHubSpotNotConnected is the answer when the workspace has no usable
// HubSpot connection.
const errHubSpotNotConnected = "HubSpot is not connected for this workspace: an admin connects it at /oauth/hubspot/connect"

// portalError turns a failed read of the portal into the answer.
func portalError(err error) error {
	var apiErr *APIError
	var broken *hubspotconn.BrokenError
	var rate *hubspot.RateLimitError
	var server *hubspot.ServerError
	var transport *hubspot.TransportError
	var forbidden *hubspot.ForbiddenError
	var hs *hubspot.APIError
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.Is(err, hubspotconn.ErrNotConnected):
		return NewError(http.StatusConflict, "not_connected", errHubSpotNotConnected)
	case errors.As(err, &broken):
		return NewError(http.StatusConflict, "not_connected", fmt.Sprintf("the HubSpot connection is broken (%s): an admin must reconnect HubSpot at /oauth/hubspot/connect", broken.Reason))
	case errors.Is(err, hubspot.ErrConnectionBroken):
		return NewError(http.StatusConflict, "not_connected", "the HubSpot connection is broken: an admin must reconnect HubSpot at /oauth/hubspot/connect")
	case errors.As(err, &rate):
		return NewError(http.StatusServiceUnavailable, "unavailable", "HubSpot's rate limit for this portal is used up right now; try again in a moment")
	case errors.As(err, &server), errors.As(err, &transport), errors.Is(err, context.DeadlineExceeded):
		return NewError(http.StatusServiceUnavailable, "unavailable", "HubSpot did not answer in time or failed on its side; try again in a moment")
	case errors.As(err, &forbidden):
		return NewError(http.StatusBadGateway, "bad_gateway", "HubSpot refused the read (a scope may be missing: reconnect HubSpot to grant it): "+forbidden.Message)
	case errors.As(err, &hs):
		return NewError(http.StatusBadGateway, "bad_gateway", "HubSpot refused the read: "+hs.Message)
	case errors.Is(err, context.Canceled):
		return err
	default:
		return NewError(http.StatusServiceUnavailable, "unavailable", "HubSpot could not be read right now; try again in a moment")
	}
}

// refreshParam reads ?refresh=true (the refresh button: skip the cache).
func refreshParam(c echo.Context) (bool, error) {
	v := c.QueryParam("refresh")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &APIError{Status: http.StatusBadRequest, Code: "bad_request", Message: "refresh must be true or false",
			Fields: map[string]string{"refresh": fmt.Sprintf("%q is not true or false", v)}}
	}
	return b, nil
}

// PortalPropertyView is one property of an object type in the connected
// portal. Rules name Name (the internal name) and, for enumerations, an
// option's Value; Label is what HubSpot's UI shows.
type PortalPropertyView struct {
	Name        string                     `json:"name"`
	Label       string                     `json:"label"`
	Type        string                     `json:"type"`
	FieldType   string                     `json:"field_type"`
	GroupName   string                     `json:"group_name"`
	Description string                     `json:"description"`
	Options     []PortalPropertyOptionView `json:"options"`
}

// PortalPropertyOptionView is one option of an enumeration property: rules
// match Value, the UI shows Label.
type PortalPropertyOptionView struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// PortalPropertyList answers GET /api/v1/hubspot/properties.
type PortalPropertyList struct {
	Object hubspotobject.Type   `json:"object"`
	Data   []PortalPropertyView `json:"data"`
}

// PortalPipelineView is a deal pipeline of the connected portal.
type PortalPipelineView struct {
	ID     string            `json:"id"`
	Label  string            `json:"label"`
	Stages []PortalStageView `json:"stages"`
}

// PortalStageView is a deal stage. Won and Lost come from HubSpot's stage
// metadata: closed with probability 1 is won, closed with probability 0 is
// lost (custom pipelines' stage IDs are numbers, so never from the ID).
type PortalStageView struct {
	ID          string   `json:"id"`
	Label       string   `json:"label"`
	Closed      bool     `json:"closed"`
	Probability *float64 `json:"probability"`
	Won         bool     `json:"won"`
	Lost        bool     `json:"lost"`
}

// PortalPipelineList answers GET /api/v1/hubspot/pipelines.
type PortalPipelineList struct {
	Data []PortalPipelineView `json:"data"`
}

// PortalListView is a list (segment) of the connected portal.
type PortalListView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// ProcessingType is HubSpot's: MANUAL (static), DYNAMIC (members follow
	// the list's filters) or SNAPSHOT (filters applied once, then static).
	ProcessingType string `json:"processing_type"`
	Dynamic        bool   `json:"dynamic"`
	// Object is the kind of record the list holds; empty for kinds
	// referflow does not use.
	Object hubspotobject.Type `json:"object,omitempty"`
	Size   int                `json:"size"`
}

// PortalListList answers GET /api/v1/hubspot/lists.
type PortalListList struct {
	Data []PortalListView `json:"data"`
}

func (s *Server) portalProperties(ctx context.Context, ws uuid.UUID, object hubspotobject.Type, refresh bool) ([]hubspot.Property, error) {
	return portalRead(ctx, s, ws, "properties:"+string(object), refresh, func(ctx context.Context, c *hubspot.Client) ([]hubspot.Property, error) {
		return c.ListProperties(ctx, hubspot.ObjectTypeOf(object))
	})
}

func (s *Server) portalPipelines(ctx context.Context, ws uuid.UUID, refresh bool) ([]hubspot.Pipeline, error) {
	return portalRead(ctx, s, ws, "pipelines", refresh, func(ctx context.Context, c *hubspot.Client) ([]hubspot.Pipeline, error) {
		return c.ListDealPipelines(ctx)
	})
}

// maxPortalLists bounds how many lists are read (HubSpot pages by 500).
const maxPortalLists = 5000

func (s *Server) portalLists(ctx context.Context, ws uuid.UUID, refresh bool) ([]hubspot.List, error) {
	return portalRead(ctx, s, ws, "lists", refresh, func(ctx context.Context, c *hubspot.Client) ([]hubspot.List, error) {
		var out []hubspot.List
		req := hubspot.ListSearchRequest{Count: 500}
		for {
			page, err := c.SearchLists(ctx, req)
			if err != nil {
				return nil, err
			}
			out = append(out, page.Lists...)
			if !page.HasMore || len(page.Lists) == 0 || len(out) >= maxPortalLists {
				return out, nil
			}
			req.Offset = page.Offset
		}
	})
}

// GET /api/v1/hubspot/properties?object=contact|deal|company[&refresh=true]
func (s *Server) hubspotProperties(c echo.Context) error {
	object := hubspotobject.Type(strings.TrimSpace(c.QueryParam("object")))
	if !object.Known() {
		return &APIError{Status: http.StatusBadRequest, Code: "bad_request", Message: "object must be contact, deal or company",
			Fields: map[string]string{"object": fmt.Sprintf("%q is not contact, deal or company", c.QueryParam("object"))}}
	}
	refresh, err := refreshParam(c)
	if err != nil {
		return err
	}
	props, err := s.portalProperties(c.Request().Context(), adminFrom(c).WorkspaceID, object, refresh)
	if err != nil {
		return err
	}
	out := PortalPropertyList{Object: object, Data: make([]PortalPropertyView, 0, len(props))}
	for _, p := range props {
		v := PortalPropertyView{Name: p.Name, Label: p.Label, Type: p.Type, FieldType: p.FieldType, GroupName: p.GroupName,
			Description: p.Description, Options: make([]PortalPropertyOptionView, 0, len(p.Options))}
		for _, o := range p.Options {
			v.Options = append(v.Options, PortalPropertyOptionView{Value: o.Value, Label: o.Label})
		}
		out.Data = append(out.Data, v)
	}
	return c.JSON(http.StatusOK, out)
}

// GET /api/v1/hubspot/pipelines[?refresh=true]
func (s *Server) hubspotPipelines(c echo.Context) error {
	refresh, err := refreshParam(c)
	if err != nil {
		return err
	}
	pipes, err := s.portalPipelines(c.Request().Context(), adminFrom(c).WorkspaceID, refresh)
	if err != nil {
		return err
	}
	out := PortalPipelineList{Data: make([]PortalPipelineView, 0, len(pipes))}
	for _, p := range pipes {
		v := PortalPipelineView{ID: p.ID, Label: p.Label, Stages: make([]PortalStageView, 0, len(p.Stages))}
		for _, st := range p.Stages {
			sv := PortalStageView{ID: st.ID, Label: st.Label, Closed: st.Metadata.IsClosed, Won: st.IsWon(), Lost: st.IsLost()}
			if st.Metadata.HasProbability {
				prob := st.Metadata.Probability
				sv.Probability = &prob
			}
			v.Stages = append(v.Stages, sv)
		}
		out.Data = append(out.Data, v)
	}
	return c.JSON(http.StatusOK, out)
}

// listObjects maps HubSpot's object type IDs to referflow's words.
var listObjects = map[string]hubspotobject.Type{
	hubspot.ContactObjectTypeID: hubspotobject.Contact,
	hubspot.CompanyObjectTypeID: hubspotobject.Company,
	hubspot.DealObjectTypeID:    hubspotobject.Deal,
}

// GET /api/v1/hubspot/lists[?refresh=true]
func (s *Server) hubspotLists(c echo.Context) error {
	refresh, err := refreshParam(c)
	if err != nil {
		return err
	}
	lists, err := s.portalLists(c.Request().Context(), adminFrom(c).WorkspaceID, refresh)
	if err != nil {
		return err
	}
	out := PortalListList{Data: make([]PortalListView, 0, len(lists))}
	for _, l := range lists {
		out.Data = append(out.Data, PortalListView{ID: l.ListID, Name: l.Name, ProcessingType: l.ProcessingType,
			Dynamic: l.ProcessingType == hubspot.ListDynamic, Object: listObjects[l.ObjectTypeID], Size: l.Size})
	}
	return c.JSON(http.StatusOK, out)
}
