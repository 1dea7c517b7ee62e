// Package hubspot is the one way referflow talks to HubSpot's CRM: contacts,
// deals and companies, their associations, properties and property groups,
// deal pipelines and lists, on HubSpot's date-versioned 2026-03 paths.
//
// # Paths
//
// Every call goes to a path under the 2026-03 version:
//
//	/crm/objects/2026-03/{contacts|deals|companies}[/...]        objects, batch, search
//	/crm/objects/2026-03/{from}/{id}/associations/...            record associations (v4 semantics)
//	/crm/properties/2026-03/{objectType}[/groups]                properties and groups
//	/crm/pipelines/2026-03/deals                                 deal pipelines and stages
//	/crm/lists/2026-03/...                                       lists and memberships
//
// HubSpot's 2026-03 reference puts the record-level association endpoints
// under the objects API (/crm/objects/2026-03/{from}/{id}/associations/...,
// where v4 had /crm/v4/objects/...), not under /crm/associations/2026-03,
// which holds the batch and schema endpoints referflow does not use. The lists
// endpoints keep the v3 structure under /crm/lists/2026-03.
//
// # Authentication
//
// The client asks its oauth2.TokenSource for a token before every request: an
// OAuth connection's source refreshes ahead of expires_in elsewhere (and fails
// with an error wrapping ErrConnectionBroken once HubSpot refuses the refresh
// token); a private app's token is an oauth2.StaticTokenSource. Tokens never
// appear in errors or logs. The client does nothing about a 401 but return
// an *UnauthorizedError; the clients hubspotconn hands out refresh once and
// resend, and turn a 401 that survives that into a broken connection (an
// error wrapping ErrConnectionBroken).
//
// # Errors
//
// HubSpot's error body is decoded into typed errors, each usable with
// errors.As and each carrying the status code and correlation ID:
// *ValidationError (with the property named), *NotFoundError, *ConflictError
// (with the existing object's ID), *RateLimitError (with how long to wait),
// *UnauthorizedError, *ForbiddenError, *ServerError; other statuses are an
// *APIError. Every typed error unwraps to its *APIError. Arguments HubSpot
// would refuse (a search limit over 200, too many filters) are refused before
// any request, with an error wrapping ErrInvalidRequest.
//
// # Retries and rate limits
//
// The client makes each request once: Temporal retries activities, and
// TemporalError turns a client error into what an activity should return —
// a rate limit becomes a retryable error whose NextRetryDelay is the wait
// HubSpot asked for; 5xx, timeouts and connection errors are retryable with
// the activity's backoff; validation, not-found, conflict, unauthorized and
// a broken connection are non-retryable, each with its own type name
// (ErrorTypeRateLimited, ErrorTypeValidation, ...). A DAILY limit asks for a
// wait of up to a day: give HubSpot activities no ScheduleToCloseTimeout
// shorter than that, or they fail instead of waiting.
//
// Two limits keep referflow under HubSpot's 110 requests per 10 s and 5
// searches per second per portal, and they combine as follows:
//
//   - The worker caps the HubSpot task queue with TaskQueueActivitiesPerSecond.
//     The Temporal server enforces it across every worker process, but it
//     counts activity starts (all portals together), not HTTP requests: an
//     activity that pages through a search makes several. It smooths the
//     work handed out; it does not hold HubSpot's limits.
//   - A RateLimiter (WithLimiter) is waited on before each request, honouring
//     the context, per portal: it counts requests, and searches separately (a
//     search draws on both budgets). referflow's clients come from
//     hubspotconn.Manager.Client, whose hubspotconn.SharedLimiter keeps each
//     portal's budgets in Postgres — GCRA, one atomic statement per request,
//     timed by the database's clock — so the budget holds for all worker
//     (and API) processes together, however many run. Limiter is the same
//     thing in one process, for tests and tools without a database.
//
// Both are sized by WindowGCRA so that no window of the configured length
// ever sees more than the configured number of admitted requests
// (DefaultLimits: 100 per 10 s and 4 searches per second, a margin under
// HubSpot's 110 and 5 for the delay between admission and arrival), which a
// plain bucket with a burst of N would not guarantee. The shared limiter
// therefore alone holds HubSpot's bound, whatever the activities do and
// however many processes run; the queue cap only spreads the load. Whatever
// slips through both (another app of the portal's owner, a clock jump) comes
// back as a 429, which TemporalError turns into a retry after HubSpot's own
// wait. Both limiters are HoldingLimiters: the client tells them of every
// 429, and they hold the portal's other calls (in every process, for the
// shared one) for HubSpot's wait, so a storm costs one refused call per
// window, not one per caller. A caller whose context would end first gets a
// *WaitTooLongError, which TemporalError also makes a retry after the wait.
package hubspot
