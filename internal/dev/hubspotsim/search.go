package hubspotsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Search limits (HubSpot's search docs; the contract's stricter reading).
const (
	maxFilterGroups     = 5
	maxFiltersPerGroup  = 6
	maxFiltersTotal     = 18
	maxSearchLimit      = 200
	maxSearchResultsWin = 10000
)

type searchFilter struct {
	PropertyName string
	Operator     string
	Value        *string
	HighValue    *string
	Values       []string
}

type searchSort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

func (s *searchSort) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		s.PropertyName, s.Direction = strings.TrimPrefix(name, "-"), "ASCENDING"
		if strings.HasPrefix(name, "-") {
			s.Direction = "DESCENDING"
		}
		return nil
	}
	type plain searchSort
	return json.Unmarshal(b, (*plain)(s))
}

// searchableText are the properties a search's free-text query matches.
var searchableText = map[string][]string{
	"contacts":  {"firstname", "lastname", "email", "phone", "company"},
	"companies": {"name", "domain", "phone"},
	"deals":     {"dealname"},
}

// flexString accepts a JSON string or number (HubSpot's clients send both
// for filter values and "after").
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// POST .../{objectType}/search
func hSearch(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if e := c.requireObjectScope(t, false); e != nil {
		return errResult(e)
	}
	var req struct {
		FilterGroups []struct {
			Filters []json.RawMessage `json:"filters"`
		} `json:"filterGroups"`
		Sorts      []searchSort `json:"sorts"`
		Properties []string     `json:"properties"`
		Limit      *int         `json:"limit"`
		After      flexString   `json:"after"`
		Query      string       `json:"query"`
	}
	if e := c.decode(&req); e != nil {
		return errResult(e)
	}
	limit := 10
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 0 || limit > maxSearchLimit {
		return errResult(validationErr(fmt.Sprintf("limit must be between 0 and %d, got %d", maxSearchLimit, limit)))
	}
	offset := 0
	if req.After != "" {
		n, err := strconv.Atoi(string(req.After))
		if err != nil || n < 0 {
			return errResult(validationErr(fmt.Sprintf("after must be a paging cursor from paging.next.after, got %q", req.After)))
		}
		offset = n
	}
	if offset >= maxSearchResultsWin {
		return errResult(validationErr(fmt.Sprintf("Paging past %d results is not allowed: after=%d. Narrow the search (e.g. filter on hs_object_id) instead.", maxSearchResultsWin, offset)))
	}
	if len(req.FilterGroups) > maxFilterGroups {
		return errResult(validationErr(fmt.Sprintf("Too many filter groups: %d (at most %d)", len(req.FilterGroups), maxFilterGroups)))
	}
	if len(req.Sorts) > 1 {
		return errResult(validationErr(fmt.Sprintf("Only one sort is allowed, got %d", len(req.Sorts))))
	}
	total := 0
	groups := make([][]searchFilter, len(req.FilterGroups))
	for i, g := range req.FilterGroups {
		if len(g.Filters) > maxFiltersPerGroup {
			return errResult(validationErr(fmt.Sprintf("Too many filters in filter group %d: %d (at most %d per group)", i, len(g.Filters), maxFiltersPerGroup)))
		}
		total += len(g.Filters)
		for _, raw := range g.Filters {
			var in struct {
				PropertyName string       `json:"propertyName"`
				Operator     string       `json:"operator"`
				Value        *flexString  `json:"value"`
				HighValue    *flexString  `json:"highValue"`
				Values       []flexString `json:"values"`
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				return errResult(invalidJSONErr(err))
			}
			f := searchFilter{PropertyName: in.PropertyName, Operator: in.Operator}
			if in.Value != nil {
				v := string(*in.Value)
				f.Value = &v
			}
			if in.HighValue != nil {
				v := string(*in.HighValue)
				f.HighValue = &v
			}
			for _, v := range in.Values {
				f.Values = append(f.Values, string(v))
			}
			if e := checkFilter(c.p, t, &f); e != nil {
				return errResult(e)
			}
			groups[i] = append(groups[i], f)
		}
	}
	if total > maxFiltersTotal {
		return errResult(validationErr(fmt.Sprintf("Too many filters: %d (at most %d in all filter groups)", total, maxFiltersTotal)))
	}
	var sortBy *searchSort
	if len(req.Sorts) == 1 {
		sortBy = &req.Sorts[0]
		if sortBy.PropertyName != "id" && c.p.propertyDef(t, sortBy.PropertyName) == nil {
			return errResult(validationErr(fmt.Sprintf("Cannot sort on %s: property does not exist", sortBy.PropertyName)))
		}
		switch sortBy.Direction {
		case "", "ASCENDING", "DESCENDING":
		default:
			return errResult(validationErr("direction must be ASCENDING or DESCENDING, got " + sortBy.Direction))
		}
	}

	now := c.s.now()
	type hit struct {
		id   int64
		snap *snapshot
	}
	var hits []hit
	st := c.p.objects[t]
	for _, id := range sortedKeys(st.byID) {
		snap := st.byID[id].searchView(now)
		if snap == nil || snap.archived {
			continue
		}
		if !matchQuery(t, snap.props, req.Query) {
			continue
		}
		if len(groups) > 0 && !matchGroups(c.p, t, snap.props, groups) {
			continue
		}
		hits = append(hits, hit{id, snap})
	}
	if sortBy != nil {
		def := c.p.propertyDef(t, sortBy.PropertyName)
		desc := sortBy.Direction == "DESCENDING"
		sort.SliceStable(hits, func(i, j int) bool {
			a, b := hits[i].snap.props[sortBy.PropertyName], hits[j].snap.props[sortBy.PropertyName]
			if sortBy.PropertyName == "id" {
				a, b = idString(hits[i].id), idString(hits[j].id)
			}
			cmp := compareValues(def, a, b)
			if cmp == 0 {
				return hits[i].id < hits[j].id
			}
			return (cmp < 0) != desc
		})
	}
	ro := readOpts{props: req.Properties, explicit: len(req.Properties) > 0}
	results := []objectJSON{}
	end := min(offset+limit, len(hits))
	for i := offset; i < end; i++ {
		h := hits[i]
		results = append(results, objectJSON{
			ID: idString(h.id), Properties: selectProps(t, h.snap.props, ro),
			CreatedAt: hsTime(h.snap.created), UpdatedAt: hsTime(h.snap.updated),
		})
	}
	body := map[string]any{"total": len(hits), "results": results}
	if end < len(hits) && limit > 0 {
		body["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(end)}}
	}
	return http.StatusOK, body
}

var searchOperators = map[string]bool{
	"EQ": true, "NEQ": true, "LT": true, "LTE": true, "GT": true, "GTE": true, "BETWEEN": true,
	"IN": true, "NOT_IN": true, "HAS_PROPERTY": true, "NOT_HAS_PROPERTY": true,
	"CONTAINS_TOKEN": true, "NOT_CONTAINS_TOKEN": true,
}

func checkFilter(p *Portal, t string, f *searchFilter) *apiError {
	if f.PropertyName == "" {
		return validationErr("filter propertyName is required")
	}
	if f.PropertyName != "id" && p.propertyDef(t, f.PropertyName) == nil {
		e := validationErr(fmt.Sprintf("There was a problem with the request: property %s does not exist on %s", f.PropertyName, singular[t]))
		e.Errors = []errorDetail{{Message: e.Message, Code: "PROPERTY_DOESNT_EXIST", Context: map[string][]string{"propertyName": {f.PropertyName}}}}
		return e
	}
	if !searchOperators[f.Operator] {
		return validationErr(fmt.Sprintf("Unknown filter operator %q on %s", f.Operator, f.PropertyName))
	}
	switch f.Operator {
	case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
	case "IN", "NOT_IN":
		if len(f.Values) == 0 {
			return validationErr(fmt.Sprintf("Operator %s on %s needs values", f.Operator, f.PropertyName))
		}
	case "BETWEEN":
		if f.Value == nil || f.HighValue == nil {
			return validationErr(fmt.Sprintf("Operator BETWEEN on %s needs value and highValue", f.PropertyName))
		}
	default:
		if f.Value == nil {
			return validationErr(fmt.Sprintf("Operator %s on %s needs a value", f.Operator, f.PropertyName))
		}
	}
	return nil
}

func matchGroups(p *Portal, t string, props map[string]string, groups [][]searchFilter) bool {
	for _, g := range groups {
		ok := true
		for _, f := range g {
			if !matchFilter(p, t, props, f) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func matchFilter(p *Portal, t string, props map[string]string, f searchFilter) bool {
	name := f.PropertyName
	if name == "id" {
		name = "hs_object_id"
	}
	def := p.propertyDef(t, name)
	v, has := props[name]
	has = has && v != ""
	switch f.Operator {
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	case "IN", "NOT_IN":
		in := false
		for _, want := range f.Values {
			if def != nil && def.Type == "string" {
				// HubSpot: IN values for string properties must be lowercase.
				in = in || (has && strings.ToLower(v) == want)
			} else {
				in = in || (has && compareValues(def, v, want) == 0)
			}
		}
		if f.Operator == "IN" {
			return in
		}
		return !in
	case "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
		found := has && containsToken(v, *f.Value)
		return found == (f.Operator == "CONTAINS_TOKEN")
	case "NEQ":
		return !has || compareValues(def, v, *f.Value) != 0
	}
	if !has {
		return false
	}
	cmp := compareValues(def, v, *f.Value)
	switch f.Operator {
	case "EQ":
		return cmp == 0
	case "LT":
		return cmp < 0
	case "LTE":
		return cmp <= 0
	case "GT":
		return cmp > 0
	case "GTE":
		return cmp >= 0
	case "BETWEEN":
		return cmp >= 0 && compareValues(def, v, *f.HighValue) <= 0
	}
	return false
}

// compareValues compares a stored value with a filter value by the
// property's type: numbers numerically, dates as instants (epoch ms or ISO),
// everything else case-insensitively.
func compareValues(def *property, a, b string) int {
	typ := "string"
	if def != nil {
		typ = def.Type
	}
	switch typ {
	case "number":
		x, err1 := strconv.ParseFloat(a, 64)
		y, err2 := strconv.ParseFloat(b, 64)
		if err1 == nil && err2 == nil {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case "datetime", "date":
		x, ok1 := parseHSTime(a)
		y, ok2 := parseHSTime(b)
		if ok1 && ok2 {
			return x.Compare(y)
		}
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// containsToken matches a word of the value, with * as a wildcard; a
// pattern with punctuation (an email, a domain) also matches the whole value.
func containsToken(value, pattern string) bool {
	pattern = strings.ToLower(pattern)
	if ok, _ := path.Match(pattern, strings.ToLower(value)); ok {
		return true
	}
	for _, tok := range tokens(value) {
		if ok, _ := path.Match(pattern, tok); ok {
			return true
		}
	}
	return false
}

func matchQuery(t string, props map[string]string, query string) bool {
	qs := tokens(query)
	if len(qs) == 0 {
		return true
	}
	var words []string
	for _, name := range searchableText[t] {
		words = append(words, tokens(props[name])...)
	}
	for _, q := range qs {
		found := false
		for _, w := range words {
			if strings.HasPrefix(w, q) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
