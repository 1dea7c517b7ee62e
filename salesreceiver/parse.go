package salesreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/salesentry"
)

// MaxEvents is the most events HubSpot puts in one delivery.
const MaxEvents = 100

// ParseError says what is wrong with a delivery: with the body as a whole
// (Index -1) or with one event (Index counts from 0), and in which of the
// event's fields when one is to blame.
type ParseError struct {
	Index   int
	Field   string
	Problem string
}

func (e *ParseError) Error() string {
	switch {
	case e.Index < 0:
		return "body: " + e.Problem
	case e.Field == "":
		return fmt.Sprintf("event %d: %s", e.Index, e.Problem)
	default:
		return fmt.Sprintf("event %d: %s %s", e.Index, e.Field, e.Problem)
	}
}

// Path names the offending part of the body the way a JSON path would:
// "body", "[3]" or "[3].portalId".
func (e *ParseError) Path() string {
	switch {
	case e.Index < 0:
		return "body"
	case e.Field == "":
		return fmt.Sprintf("[%d]", e.Index)
	default:
		return fmt.Sprintf("[%d].%s", e.Index, e.Field)
	}
}

// wireEvent is an event as decoded; pointers tell a missing field from a
// zero one. Fields referflow neither stores nor compares (subscriptionId,
// appId, changeFlag, sourceId) are read leniently: a type HubSpot might
// change one day must not make every delivery a 400 that HubSpot retries
// and then drops. They are in the stored payload either way.
type wireEvent struct {
	EventID            *int64          `json:"eventId"`
	SubscriptionID     json.RawMessage `json:"subscriptionId"`
	PortalID           *int64          `json:"portalId"`
	AppID              json.RawMessage `json:"appId"`
	OccurredAt         *int64          `json:"occurredAt"`
	SubscriptionType   *string         `json:"subscriptionType"`
	ObjectTypeID       *string         `json:"objectTypeId"`
	AttemptNumber      *int64          `json:"attemptNumber"`
	ObjectID           *int64          `json:"objectId"`
	PropertyName       *string         `json:"propertyName"`
	PropertyValue      *string         `json:"propertyValue"`
	ChangeSource       *string         `json:"changeSource"`
	ChangeFlag         json.RawMessage `json:"changeFlag"`
	SourceID           json.RawMessage `json:"sourceId"`
	PrimaryObjectID    *int64          `json:"primaryObjectId"`
	MergedObjectIDs    []int64         `json:"mergedObjectIds"`
	NewObjectID        *int64          `json:"newObjectId"`
	AssociationType    *string         `json:"associationType"`
	FromObjectID       *int64          `json:"fromObjectId"`
	ToObjectID         *int64          `json:"toObjectId"`
	AssociationRemoved *bool           `json:"associationRemoved"`
}

var (
	// subscriptionTypePattern is "<object>.<kind>" as HubSpot names them
	// (contact.propertyChange, line_item.creation, object.merge...).
	subscriptionTypePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}\.[A-Za-z][A-Za-z0-9_]{0,63}$`)
	// objectTypeIDPattern is HubSpot's "<meta type>-<id>" (0-1, 2-1234567).
	objectTypeIDPattern = regexp.MustCompile(`^[0-9]{1,10}-[0-9]{1,20}$`)
)

// maxOccurredAt is the last millisecond of year 9999: later times are not
// real and do not fit the database's timestamps.
var maxOccurredAt = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()

// Parse reads a delivery: a JSON array of 1 to MaxEvents event objects. Every
// event must carry portalId, objectId (association changes may carry
// fromObjectId instead), occurredAt and a subscriptionType of the form
// "<object>.<kind>"; generic object.* events must say their objectTypeId.
// Fields HubSpot adds that referflow does not read are kept in Event.Raw.
//
// Events about objects referflow does not handle (tickets, conversations,
// custom objects) are valid: they parse, and their ObjectType is "". What
// cannot be right — a missing or ill-typed field, a body that is not such
// an array, a value the database could not store as sent — is a *ParseError
// naming the event and field; one such event fails the whole delivery.
func Parse(body []byte) ([]Event, error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return nil, &ParseError{Index: -1, Problem: "is empty; HubSpot sends a JSON array of events"}
	case !utf8.Valid(body):
		return nil, &ParseError{Index: -1, Problem: "is not valid UTF-8"}
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil || body[0] != '[' {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, &ParseError{Index: -1, Problem: "is not valid JSON"}
		}
		return nil, &ParseError{Index: -1, Problem: "must be a JSON array of events"}
	}
	switch {
	case len(raws) == 0:
		return nil, &ParseError{Index: -1, Problem: "holds no events"}
	case len(raws) > MaxEvents:
		return nil, &ParseError{Index: -1, Problem: fmt.Sprintf("holds %d events; HubSpot sends at most %d", len(raws), MaxEvents)}
	}
	events := make([]Event, len(raws))
	for i, raw := range raws {
		ev, err := parseEvent(raw)
		if err != nil {
			err.Index = i
			return nil, err
		}
		events[i] = ev
	}
	return events, nil
}

// ParseEvent reads one event on its own, as an admin edits a sales entry's
// payload to re-run it (Rerun): a JSON object checked exactly as Parse
// checks each event of a delivery. Problems with the body as a whole have
// Index -1, problems with the event Index 0.
func ParseEvent(body []byte) (Event, error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return Event{}, &ParseError{Index: -1, Problem: "is empty; a HubSpot event is a JSON object"}
	case !utf8.Valid(body):
		return Event{}, &ParseError{Index: -1, Problem: "is not valid UTF-8"}
	case !json.Valid(body):
		return Event{}, &ParseError{Index: -1, Problem: "is not valid JSON"}
	}
	ev, err := parseEvent(body)
	if err != nil {
		err.Index = 0
		return Event{}, err
	}
	return ev, nil
}

func parseEvent(raw json.RawMessage) (Event, *ParseError) {
	if raw[0] != '{' {
		return Event{}, &ParseError{Problem: "must be a JSON object"}
	}
	if field, problem := checkStorable(raw); problem != "" {
		return Event{}, &ParseError{Field: field, Problem: problem}
	}
	var w wireEvent
	if err := json.Unmarshal(raw, &w); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return Event{}, &ParseError{Field: typeErr.Field, Problem: "must be " + wantType(typeErr)}
		}
		return Event{}, &ParseError{Problem: "cannot be read: " + err.Error()}
	}
	var ev Event
	switch {
	case w.PortalID == nil:
		return ev, missing("portalId")
	case *w.PortalID <= 0:
		return ev, &ParseError{Field: "portalId", Problem: "must be a positive HubSpot portal ID"}
	case w.OccurredAt == nil:
		return ev, missing("occurredAt")
	case *w.OccurredAt <= 0 || *w.OccurredAt > maxOccurredAt:
		return ev, &ParseError{Field: "occurredAt", Problem: "must be epoch milliseconds between 1970 and 9999"}
	case w.SubscriptionType == nil:
		return ev, missing("subscriptionType")
	case !subscriptionTypePattern.MatchString(*w.SubscriptionType):
		return ev, &ParseError{Field: "subscriptionType", Problem: `must be "<object>.<kind>", e.g. "deal.propertyChange"`}
	case w.AttemptNumber != nil && (*w.AttemptNumber < 0 || *w.AttemptNumber > math.MaxInt32):
		return ev, &ParseError{Field: "attemptNumber", Problem: "must be a whole number from 0"}
	}
	ev = w.event(raw)
	// Generic object.* events say what object they are about in
	// objectTypeId; other events name it in their subscription type.
	if prefix, _, _ := strings.Cut(ev.SubscriptionType, "."); prefix == "object" {
		switch {
		case w.ObjectTypeID == nil:
			return ev, missing("objectTypeId")
		case !objectTypeIDPattern.MatchString(ev.ObjectTypeID):
			return ev, &ParseError{Field: "objectTypeId", Problem: `must be HubSpot's object type ID, e.g. "0-1" for contacts`}
		}
	}
	// HubSpot's association changes name their objects fromObjectId and
	// toObjectId and may carry no objectId: the event is about the "from"
	// object (contact.associationChange is about the contact).
	if w.ObjectID == nil && ev.Kind() == salesentry.AssociationChange && w.FromObjectID != nil {
		ev.ObjectID = ev.FromObjectID
	} else if w.ObjectID == nil {
		return ev, missing("objectId")
	}
	if ev.ObjectID <= 0 {
		return ev, &ParseError{Field: "objectId", Problem: "must be a positive HubSpot object ID"}
	}
	if ev.Kind() == salesentry.PropertyChange && ev.PropertyName == "" {
		return ev, &ParseError{Field: "propertyName", Problem: "is required on property changes"}
	}
	return ev, nil
}

// OfApp keeps the events of HubSpot app appID (HUBSPOT_APP_ID) and counts
// the others: a portal can send another app's events to the same URL, and
// they are not referflow's to act on — they are answered, not recorded. An
// appID of 0 keeps every event, as does an event that names no app.
func OfApp(events []Event, appID int64) (ours []Event, others int) {
	if appID == 0 {
		return events, 0
	}
	ours = events[:0:0]
	for _, ev := range events {
		if ev.AppID != 0 && ev.AppID != appID {
			others++
			continue
		}
		ours = append(ours, ev)
	}
	return ours, others
}

// event is the Event a decoded wire event says; fields HubSpot did not send
// are zero. Parse checks first what it requires.
func (w wireEvent) event(raw json.RawMessage) Event {
	return Event{
		PortalID:           deref(w.PortalID),
		OccurredAt:         time.UnixMilli(deref(w.OccurredAt)).UTC(),
		SubscriptionType:   deref(w.SubscriptionType),
		ObjectTypeID:       deref(w.ObjectTypeID),
		EventID:            deref(w.EventID),
		SubscriptionID:     lenient[int64](w.SubscriptionID),
		AppID:              lenient[int64](w.AppID),
		AttemptNumber:      deref(w.AttemptNumber),
		ObjectID:           deref(w.ObjectID),
		PropertyName:       deref(w.PropertyName),
		PropertyValue:      w.PropertyValue,
		ChangeSource:       deref(w.ChangeSource),
		ChangeFlag:         lenient[string](w.ChangeFlag),
		SourceID:           lenient[string](w.SourceID),
		PrimaryObjectID:    deref(w.PrimaryObjectID),
		MergedObjectIDs:    w.MergedObjectIDs,
		NewObjectID:        deref(w.NewObjectID),
		AssociationType:    deref(w.AssociationType),
		FromObjectID:       deref(w.FromObjectID),
		ToObjectID:         deref(w.ToObjectID),
		AssociationRemoved: w.AssociationRemoved,
		Raw:                raw,
	}
}

// storedEvent is the event a sales entry was recorded from, for routing: the
// stored payload read with the intake's own wire type (leniently: it was
// checked on the way in), and the columns the intake filled as it parsed —
// the object (an association's from-record when HubSpot sent no objectId),
// subscription type, occurredAt and property — taking precedence.
func storedEvent(row db.SalesEntry) (Event, error) {
	var w wireEvent
	if err := json.Unmarshal(row.Payload, &w); err != nil {
		return Event{}, err
	}
	ev := w.event(row.Payload)
	ev.PortalID, ev.SubscriptionType, ev.ObjectID, ev.OccurredAt = row.PortalID, row.SubscriptionType, row.ObjectID, row.OccurredAt
	ev.PropertyName, ev.PropertyValue = "", row.PropertyValue
	if row.PropertyName != nil {
		ev.PropertyName = *row.PropertyName
	}
	return ev, nil
}

func missing(field string) *ParseError { return &ParseError{Field: field, Problem: "is required"} }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// lenient decodes raw as a T, or is T's zero value when raw is missing or
// holds another type.
func lenient[T any](raw json.RawMessage) T {
	var v T
	if len(raw) > 0 && json.Unmarshal(raw, &v) != nil {
		var zero T
		return zero
	}
	return v
}

func wantType(e *json.UnmarshalTypeError) string {
	if e.Field == "mergedObjectIds" {
		return "an array of whole numbers"
	}
	switch e.Type.Kind().String() {
	case "int64":
		return "a whole number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return "of type " + e.Type.String()
}

// Limits of what Postgres stores in the payload's jsonb as sent: checked
// here so a client's odd but valid JSON is a 400, not a failed insert.
const (
	maxDepth        = 32   // nesting of arrays and objects within an event
	maxNumberDigits = 1000 // digits of one number
	maxExponent     = 1000 // |exponent| of one number
)

// checkStorable finds what valid JSON Postgres would still refuse to store
// as jsonb or text: \u0000 (text cannot hold NUL), a lone UTF-16 surrogate
// escape, numbers beyond numeric's range, or deep nesting. It returns the
// top-level field it is in ("" when not in one) and the problem, or "" when
// the event can be stored. raw must be valid JSON.
func checkStorable(raw []byte) (field, problem string) {
	depth := 0
	expectKey := false // inside the event object, before a field name
	key := ""
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '{':
			depth++
			expectKey = depth == 1
			if depth > maxDepth {
				return key, fmt.Sprintf("is nested more than %d levels deep", maxDepth)
			}
		case c == '[':
			depth++
			if depth > maxDepth {
				return key, fmt.Sprintf("is nested more than %d levels deep", maxDepth)
			}
		case c == '}' || c == ']':
			depth--
		case c == ',':
			expectKey = depth == 1
		case c == '"':
			end, p := scanString(raw, i)
			if expectKey {
				var k string
				if json.Unmarshal(raw[i:end+1], &k) == nil {
					key = k
				}
				expectKey = false
			}
			if p != "" {
				return key, p
			}
			i = end
		case c == '-' || c >= '0' && c <= '9':
			end := i
			for end < len(raw) && bytes.IndexByte([]byte("+-.eE0123456789"), raw[end]) >= 0 {
				end++
			}
			if p := checkNumber(raw[i:end]); p != "" {
				return key, p
			}
			i = end - 1
		}
	}
	return "", ""
}

// scanString returns the index of the closing quote of the string starting
// at raw[start], and a problem with its escapes.
func scanString(raw []byte, start int) (int, string) {
	problem := ""
	for i := start + 1; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			return i, problem
		case '\\':
			i++
			if i >= len(raw) || raw[i] != 'u' || i+4 >= len(raw) {
				continue
			}
			u, _ := strconv.ParseUint(string(raw[i+1:i+5]), 16, 16)
			i += 4
			switch {
			case u == 0 && problem == "":
				problem = `holds \u0000, which cannot be stored`
			case u >= 0xDC00 && u <= 0xDFFF && problem == "":
				problem = "holds a lone UTF-16 surrogate escape"
			case u >= 0xD800 && u <= 0xDBFF:
				// A high surrogate must be followed by a low one.
				next := raw[i+1:]
				lo := uint64(0)
				if len(next) >= 6 && next[0] == '\\' && next[1] == 'u' {
					lo, _ = strconv.ParseUint(string(next[2:6]), 16, 16)
				}
				if lo < 0xDC00 || lo > 0xDFFF {
					if problem == "" {
						problem = "holds a lone UTF-16 surrogate escape"
					}
				} else {
					i += 6
				}
			}
		}
	}
	return len(raw) - 1, problem
}

func checkNumber(n []byte) string {
	mantissa, exp := n, []byte(nil)
	if k := bytes.IndexAny(n, "eE"); k >= 0 {
		mantissa, exp = n[:k], n[k+1:]
	}
	if len(mantissa) > maxNumberDigits+2 {
		return fmt.Sprintf("holds a number with more than %d digits", maxNumberDigits)
	}
	if len(exp) > 0 {
		e, err := strconv.Atoi(string(exp))
		if err != nil || e > maxExponent || e < -maxExponent {
			return "holds a number out of range"
		}
	}
	return ""
}
