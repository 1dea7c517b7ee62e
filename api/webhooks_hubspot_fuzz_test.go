package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspot/signature"
	"github.com/referflow/referflow/salesreceiver"
)

// FuzzHubSpotWebhook throws bodies and header values at POST
// /webhooks/hubspot over a real database. When signed is true the body is
// correctly signed (v1, v2 or v3 as version picks), so parsing and recording
// are reached; otherwise the fuzzed header values are sent as they are.
// Whatever comes in: no panic, no 5xx while the database is up, a 2xx only
// for a correctly signed valid delivery, and a 2xx delivery's events are in
// the table.
//
//	go test -run '^$' -fuzz FuzzHubSpotWebhook -fuzztime 2m ./api/
func FuzzHubSpotWebhook(f *testing.F) {
	d := testenv.NewDatabase(f)
	public, _ := url.Parse("https://referflow.example.test")
	srv := New(Deps{
		Pool: d.Pool, Logger: slog.New(slog.DiscardHandler), PublicURL: public, WebhookSecret: testWebhookSecret,
	})
	handler := srv.Handler()

	contract := `[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]`
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	seeds := []string{
		contract,
		webhookBatch(webhookDealEvent(1, 62515, 9, "closedwon", 0), webhookDealEvent(1, 62515, 9, "closedwon", 3), webhookDealEvent(1, 62515, 9, "", 0)),
		`[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"object.propertyChange","objectTypeId":"0-3","propertyName":"amount","propertyValue":"1"}]`,
		`[{"portalId":1,"occurredAt":1,"subscriptionType":"contact.associationChange","fromObjectId":3,"toObjectId":4,"associationType":"CONTACT_TO_DEAL","associationRemoved":true}]`,
		`[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.merge","primaryObjectId":2,"mergedObjectIds":[5,6],"newObjectId":7}]`,
		`[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"ticket.creation"}]`,
		`[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation","x":"\u0000"}]`,
		`[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation","x":"\ud800"}]`,
		`[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation","x":1e400}]`,
		`[{"portalId":1,"objectId":2,"occurredAt":253402300799999,"subscriptionType":"contact.creation","attemptNumber":2147483647}]`,
		`[{"portalId":1,"objectId":2,"occurredAt":-1,"subscriptionType":"contact.creation"}]`,
		`[{"portalId":9223372036854775807,"objectId":9223372036854775807,"occurredAt":1,"subscriptionType":"deal.deletion"}]`,
		`[{"portalId":1,"objectId":2,"occurredAt":1,"subscriptionType":"contact.creation","d":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]`,
		`[]`, `{}`, `null`, ``, `[1]`, `[{}]`, "[\xff]", `[{"portalId":"1"}]`,
	}
	for i, s := range seeds {
		f.Add([]byte(s), true, uint8(i%3), "", "", "")
	}
	f.Add([]byte(contract), false, uint8(0), "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de", "v1", "")
	f.Add([]byte(contract), false, uint8(2), "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=", "", now)
	f.Add([]byte(contract), false, uint8(1), "x", "v2", "1.5e12")

	f.Fuzz(func(t *testing.T, body []byte, signed bool, version uint8, sig, sigVersion, timestamp string) {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/hubspot", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		publicURL := "https://referflow.example.test/webhooks/hubspot"
		switch {
		case signed && version%3 == 0:
			req.Header.Set(signature.HeaderV1V2, signature.V1(testWebhookSecret, body))
		case signed && version%3 == 1:
			req.Header.Set(signature.HeaderV1V2, signature.V2(testWebhookSecret, http.MethodPost, publicURL, body))
			req.Header.Set(signature.HeaderVersion, "v2")
		case signed:
			ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
			req.Header.Set(signature.HeaderV3, signature.V3(testWebhookSecret, http.MethodPost, publicURL, body, ts))
			req.Header.Set(signature.HeaderTimestamp, ts)
		default:
			header := signature.HeaderV1V2
			if version%3 == 2 {
				header = signature.HeaderV3
			}
			req.Header[header] = []string{sig}
			req.Header[signature.HeaderVersion] = []string{sigVersion}
			req.Header[signature.HeaderTimestamp] = []string{timestamp}
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)

		status := rec.Code
		if status >= 500 {
			t.Fatalf("%d while the database is up: %s", status, rec.Body)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%d answer is not JSON: %q", status, rec.Body)
		}
		events, parseErr := salesreceiver.Parse(body)
		switch {
		case status >= 200 && status < 300:
			if !signed {
				t.Fatalf("%d for a delivery with a fuzzed signature", status)
			}
			if parseErr != nil {
				t.Fatalf("%d for a body Parse refuses: %v", status, parseErr)
			}
		case signed && status == http.StatusBadRequest:
			if parseErr == nil {
				t.Fatalf("400 for a body Parse accepts: %s", rec.Body)
			}
			return
		case signed && status != http.StatusRequestEntityTooLarge:
			t.Fatalf("%d for a signed body: %s", status, rec.Body)
		default:
			return
		}
		q := db.New(d.Pool)
		for i, ev := range events {
			if ev.ObjectType() == "" {
				continue
			}
			e, err := q.SalesEntryGetByDedupeKey(context.Background(), db.SalesEntryGetByDedupeKeyParams{PortalID: ev.PortalID, DedupeKey: ev.DedupeKey()})
			if errors.Is(err, pgx.ErrNoRows) {
				t.Fatalf("event %d of a %d delivery is not in sales_entries", i, status)
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.ObjectID != ev.ObjectID || e.SubscriptionType != ev.SubscriptionType || !e.OccurredAt.Equal(ev.OccurredAt) {
				t.Fatalf("event %d stored as %+v, sent %+v", i, e, ev)
			}
		}
	})
}
