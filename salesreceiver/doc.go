// Package salesreceiver is the Sales Receiver: every HubSpot webhook event
// in, and each one sent where it belongs. It has two halves that share
// nothing but Postgres.
//
// The intake (Parse, Record; called by the api's POST /webhooks/hubspot once
// the signature is checked) reads a delivery — HubSpot's JSON array of events
// (hubspot_event.go, parse.go) — and records every contact, deal or
// company event as a row of sales_entries in one transaction (intake.go),
// once however often HubSpot redelivers it (Event.DedupeKey), then answers
// HubSpot. It never talks to Temporal, so a 2xx always means the events are
// stored.
//
// The Dispatcher (dispatcher.go, run by every worker process) treats those
// rows as an outbox: woken by the intake's NOTIFY, it claims due entries
// (batch.go) and routes each (route.go) — as the hubspot-change signal to
// the workflow of every referral holding its record, to a sales-entry
// workflow that matches a record referflow does not know yet, or nowhere,
// marked ignored with the reason — and records what it did on the entry
// (outcome.go). An entry is marked done only after Temporal accepted it, so
// a Temporal outage delays entries and never loses one.
//
// An admin's edit and re-run of an entry (Rerun, rerun.go) is the intake
// again for one event: the same parser, the same record statement, a new
// entry linked to the original (rerun_of), which is never rewritten.
//
// A HubSpot event is parsed once, by the intake's parser: routing reads the
// stored columns, and for merges and associations the stored event through
// the same wire type (entry.go).
package salesreceiver
