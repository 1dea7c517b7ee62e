package salesreceiver

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
)

// JournalChangeSource is the changeSource of events read from HubSpot's
// webhooks journal (the journal's events carry none).
const JournalChangeSource = "WEBHOOKS_JOURNAL"

// JournalEvents reads the webhooks journal's events as the Sales Receiver's
// Events: a LIST_MEMBERSHIP event about a contact becomes
// "contact.addedToList" or "contact.removedFromList" (salesentry's
// AddedToList, RemovedFromList), the list's ID as its property value, its
// journal JSON as the payload. Its DedupeKey covers eventId, portal, contact,
// occurredAt and list, so an entry read twice (a restart before its offset
// was stored) is recorded once. Events of other types or objects are
// skipped and counted.
func JournalEvents(evs []hubspot.JournalEvent) (out []Event, skipped int) {
	for _, je := range evs {
		var kind salesentry.Kind
		switch je.Action {
		case hubspot.JournalAddedToList:
			kind = salesentry.AddedToList
		case hubspot.JournalRemovedFromList:
			kind = salesentry.RemovedFromList
		}
		object := hubspotobject.FromTypeID(je.ObjectTypeID)
		if je.SubscriptionType != hubspot.JournalListMembership || kind == "" || object != hubspotobject.Contact || je.ObjectID == 0 || je.ListID == 0 {
			skipped++
			continue
		}
		list := strconv.FormatInt(je.ListID, 10)
		out = append(out, Event{
			EventID: je.EventID, SubscriptionID: je.SubscriptionID, PortalID: je.PortalID, AppID: je.AppID,
			OccurredAt: je.OccurredAt, SubscriptionType: string(object) + "." + string(kind), ObjectTypeID: je.ObjectTypeID,
			ObjectID: je.ObjectID, PropertyValue: &list, ChangeSource: JournalChangeSource, Raw: je.Raw,
		})
	}
	return out, skipped
}

// RecordJournal records journal events as sales entries, exactly as Record
// does a webhook delivery's (once per dedupe key, NOTIFY to the
// dispatchers): the poller stores its journal offset only after this
// returns.
func RecordJournal(ctx context.Context, pool *pgxpool.Pool, evs []hubspot.JournalEvent) (Result, error) {
	events, skipped := JournalEvents(evs)
	res, err := Record(ctx, pool, events)
	if err != nil {
		return res, err
	}
	res.Received += skipped
	res.Skipped += skipped
	return res, nil
}
