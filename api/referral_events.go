package api

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/referflow/referflow/db"
)

// referralEventView reads an audit event for the admin API: its reason and
// HubSpot cause are taken from the details each kind records —
// status_changed {reason, cause: {object_type, …}}, hubspot_change and the
// object events {object_type, object_id, …, outcome}, lead_not_sent and the
// other step events {reason | skipped | error}.
func referralEventView(ev db.ReferralEvent) ReferralEventView {
	v := ReferralEventView{
		Kind: ev.Kind, FromStatus: deref(ev.FromStatus), ToStatus: deref(ev.ToStatus), Actor: ev.Actor,
		SalesEntryID: ev.SalesEntryID, OccurredAt: ev.OccurredAt,
	}
	if len(ev.Details) > 0 && string(ev.Details) != "{}" {
		v.Details = json.RawMessage(ev.Details)
	}
	var d struct {
		Reason  string          `json:"reason"`
		Skipped string          `json:"skipped"`
		Error   string          `json:"error"`
		Cause   json.RawMessage `json:"cause"`
		hubSpotCause
	}
	if json.Unmarshal(ev.Details, &d) != nil {
		return v
	}
	cause := d.hubSpotCause
	var nested hubSpotCause
	if len(d.Cause) > 0 && json.Unmarshal(d.Cause, &nested) == nil && nested.ObjectType != "" {
		cause = nested
	}
	if cause.ObjectType != "" {
		v.HubSpotCause = cause.view()
		if v.SalesEntryID == nil && cause.SalesEntryID != 0 {
			id := cause.SalesEntryID
			v.SalesEntryID = &id
		}
	}
	switch {
	case d.Reason != "":
		v.Reason = d.Reason
	case d.Skipped != "":
		v.Reason = d.Skipped
	case d.Error != "":
		v.Reason = d.Error
	case cause.Outcome != "":
		v.Reason = cause.Outcome
	}
	return v
}

// hubSpotCause is the HubSpot change as events record it.
type hubSpotCause struct {
	ObjectType   string     `json:"object_type"`
	ObjectID     any        `json:"object_id"`
	Property     string     `json:"property"`
	Value        string     `json:"value"`
	OccurredAt   *time.Time `json:"occurred_at"`
	Outcome      string     `json:"outcome"`
	SalesEntryID int64      `json:"sales_entry_id"`
}

func (c hubSpotCause) view() *HubSpotCauseView {
	id := ""
	switch x := c.ObjectID.(type) {
	case float64:
		id = strconv.FormatFloat(x, 'f', 0, 64)
	case string:
		id = x
	}
	return &HubSpotCauseView{ObjectType: c.ObjectType, ObjectID: id, Property: c.Property, Value: c.Value, OccurredAt: c.OccurredAt, Outcome: c.Outcome}
}
