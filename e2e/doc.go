// Package e2e holds referflow's end-to-end tests and benchmarks: the whole
// stack — real Postgres, a real Temporal dev server, the worker as
// `referflow worker` runs it (worker.New), the Sales Receiver and the HubSpot
// simulator — driven the way HubSpot and admins drive it. Each test names
// the story it follows: a referral from lead to reward, HubSpot's changes,
// continue-as-new on a real server, a sales entry matched and reviewed, the
// Sales Receiver under outages and load. The benchmarks whose figures
// docs/benchmarks.md reports are here too, with their commands.
package e2e
