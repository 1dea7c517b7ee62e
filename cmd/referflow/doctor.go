package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/db/migrate"
	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/temporalclient"
	"github.com/referflow/referflow/internal/tokencrypt"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

const doctorUsage = `Usage: referflow doctor [flags]

Checks this install and prints one line per check: "ok", or "problem" with
what is wrong and a "fix:" line saying how to mend it. It reads the same
environment as api and worker and checks: the configuration and encryption
key, the webhook URL HubSpot is given (<REFERFLOW_PUBLIC_URL>/webhooks/hubspot),
the SMTP server of emails to members (REFERFLOW_SMTP_URL; unset: no email),
PostgreSQL (reachable, migrations applied, clock), Temporal (reachable,
namespace, referflow's search attributes, clock), each workspace's HubSpot
connection (status, granted scopes, tokens the keys can open), HubSpot events
waiting for dispatch, and referrals that are stuck: failed, terminated or
timed-out referral workflow runs not yet resumed, referrals whose workflow
never started, referrals waiting long on the outside world.

It changes nothing, except that it starts and at once terminates one workflow,
"referflow-doctor/clock-probe", to read Temporal's clock. Exit status: 0 when
every check passes, 1 when one found a problem. Run it after installing or
upgrading, when something looks wrong, and from monitoring if you like.
`

// Thresholds of the checks.
const (
	// maxClockSkew is how far this machine's clock may be from Postgres'
	// and Temporal's, beyond the measurement's own uncertainty.
	maxClockSkew = 2 * time.Second
	// noWorkflowAfter is how long a referral may go without its workflow
	// before the worker's reconciler should have started it.
	noWorkflowAfter = 5 * time.Minute
	// longWait is how long a referral may wait on the outside world before
	// someone should look.
	longWait = time.Hour
	// dispatchLagAfter is how old the oldest undispatched HubSpot event may
	// be: the dispatcher routes them within a second or two.
	dispatchLagAfter = time.Minute
	// maxRunsChecked bounds how many referrals with a failed run are
	// looked at.
	maxRunsChecked = 500
	// doctorCheckTimeout bounds each check's calls.
	doctorCheckTimeout = 15 * time.Second
)

// clockProbeWorkflowID is the workflow `doctor` starts to read Temporal's
// clock.
const clockProbeWorkflowID = "referflow-doctor/clock-probe"

// doctor prints the checks' results and counts the problems.
type doctor struct {
	out      io.Writer
	problems int

	cfg       *config.Config
	taskQueue string
	reach     bool
	pool      *pgxpool.Pool
	temporal  client.Client
	box       *tokencrypt.Box
}

func (d *doctor) ok(check, format string, args ...any) {
	fmt.Fprintf(d.out, "ok       %s: %s\n", check, fmt.Sprintf(format, args...))
}

func (d *doctor) problem(check, what, fix string) {
	d.problems++
	fmt.Fprintf(d.out, "problem  %s: %s\n         fix: %s\n", check, what, fix)
}

func (d *doctor) skipped(check, why string) {
	fmt.Fprintf(d.out, "skipped  %s: %s\n", check, why)
}

func runDoctor(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	d := &doctor{out: out.stdout}
	fs.StringVar(&d.taskQueue, "task-queue", workflows.TaskQueue, "the task queue referral workflows run on (only tests and unusual installs change it)")
	fs.BoolVar(&d.reach, "reach", false, "also GET <REFERFLOW_PUBLIC_URL>/healthz from this machine, to see the public URL answers")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	d.run(ctx)
	if d.problems > 0 {
		fmt.Fprintf(out.stdout, "\n%d problem(s) found.\n", d.problems)
		return errProblemsFound
	}
	fmt.Fprintln(out.stdout, "\nNo problems found.")
	return nil
}

// errProblemsFound makes `doctor` exit 1 after its own report, with no
// further message.
var errProblemsFound = errors.New("")

func (d *doctor) run(ctx context.Context) {
	if !d.configuration() {
		for _, c := range []string{"postgres", "temporal", "hubspot connections", "referrals"} {
			d.skipped(c, "the configuration has problems")
		}
		return
	}
	d.encryptionKey()
	d.webhookURL(ctx)
	d.email(ctx)
	if d.postgres(ctx) {
		defer d.pool.Close()
		if d.migrations(ctx) {
			d.hubSpotConnections(ctx)
			d.salesEntries(ctx)
			d.referrals(ctx)
		} else {
			for _, c := range []string{"hubspot connections", "sales entries", "referrals"} {
				d.skipped(c, "the database schema is not up to date")
			}
		}
	} else {
		for _, c := range []string{"migrations", "hubspot connections", "sales entries", "referrals"} {
			d.skipped(c, "PostgreSQL is unreachable")
		}
	}
	if d.temporalReachable(ctx) {
		defer d.temporal.Close()
		if d.namespace(ctx) {
			d.searchAttributes(ctx)
			d.temporalClock(ctx)
			d.referralRuns(ctx)
		} else {
			for _, c := range []string{"search attributes", "temporal clock", "referral workflows"} {
				d.skipped(c, "the namespace does not exist")
			}
		}
	} else {
		for _, c := range []string{"temporal namespace", "search attributes", "temporal clock", "referral workflows"} {
			d.skipped(c, "Temporal is unreachable")
		}
	}
}

// configuration reads the environment as api and worker do, except the
// encryption key, which has its own check.
func (d *doctor) configuration() bool {
	lookup := func(name string) (string, bool) {
		if name == "REFERFLOW_ENCRYPTION_KEY" {
			return "", false
		}
		return os.LookupEnv(name)
	}
	cfg, err := config.LoadFrom(lookup, config.Requirement{DatabaseURL: true})
	var cfgErr *config.Error
	if errors.As(err, &cfgErr) {
		for _, p := range cfgErr.Problems {
			d.problem("configuration", p, "set the variable as README.md's Configuration section says")
		}
		return false
	}
	if err != nil {
		d.problem("configuration", err.Error(), "see README.md, section Configuration")
		return false
	}
	d.cfg = cfg
	d.ok("configuration", "every variable is valid")
	return true
}

func (d *doctor) encryptionKey() {
	const check = "encryption key"
	raw := strings.TrimSpace(os.Getenv("REFERFLOW_ENCRYPTION_KEY"))
	if raw == "" {
		d.problem(check, "REFERFLOW_ENCRYPTION_KEY is not set: api and worker refuse to start, and stored HubSpot tokens cannot be read",
			"set it to the key api and worker use (an existing install must keep the key its tokens were sealed with; a new one: `openssl rand -base64 32`)")
		return
	}
	keys, err := config.ParseEncryptionKeys(raw)
	if err != nil {
		d.problem(check, "REFERFLOW_ENCRYPTION_KEY: "+err.Error(), "give base64 of 32 random bytes per key, comma-separated, the current key first")
		return
	}
	if d.box, err = tokencrypt.New(keys); err != nil {
		d.problem(check, err.Error(), "give base64 of 32 random bytes per key")
		return
	}
	d.ok(check, "%d key(s), the first (ID %s) encrypts", len(keys), d.box.KeyID())
}

// webhookURL checks the URL HubSpot's app is given for webhooks: HubSpot
// delivers only over https to a public address. It dials nothing unless
// --reach is given.
func (d *doctor) webhookURL(ctx context.Context) {
	const check = "webhook URL"
	target := d.cfg.PublicURL.JoinPath("webhooks", "hubspot")
	host := target.Hostname()
	ip := net.ParseIP(host)
	loopback := strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
	switch {
	case loopback:
		d.ok(check, "%s is this machine only: fine for `referflow dev` (its simulator delivers here), but HubSpot cannot reach it", target)
	case ip != nil && (ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()):
		d.problem(check, fmt.Sprintf("%s is a private address: HubSpot cannot deliver webhooks there", target),
			"set REFERFLOW_PUBLIC_URL to the public https URL in front of `referflow api`, and give HubSpot's app <that URL>/webhooks/hubspot")
		return
	case target.Scheme != "https":
		d.problem(check, fmt.Sprintf("%s is not https: HubSpot delivers webhooks over https only", target),
			"put TLS in front of `referflow api` and set REFERFLOW_PUBLIC_URL to its https:// URL")
		return
	default:
		d.ok(check, "give HubSpot's app %s as its webhook target URL", target)
	}
	if d.reach {
		health := d.cfg.PublicURL.JoinPath("healthz").String()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			d.problem("public URL", fmt.Sprintf("GET %s: %v", health, err), "check that `referflow api` runs behind REFERFLOW_PUBLIC_URL and that this machine can reach it")
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			d.problem("public URL", fmt.Sprintf("GET %s answered %s", health, resp.Status), "check what serves REFERFLOW_PUBLIC_URL: it should be `referflow api`")
			return
		}
		d.ok("public URL", "GET %s answered 200", health)
	}
}

func (d *doctor) postgres(ctx context.Context) bool {
	pool, err := openPool(ctx, d.cfg.DatabaseURL)
	if err != nil {
		d.problem("postgres", err.Error(), "check DATABASE_URL and that PostgreSQL runs and accepts connections from this machine")
		return false
	}
	d.pool = pool
	cc := pool.Config().ConnConfig
	d.ok("postgres", "reachable at %s:%d, database %s", cc.Host, cc.Port, cc.Database)

	ctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
	defer cancel()
	var dbNow time.Time
	before := time.Now()
	err = pool.QueryRow(ctx, "SELECT now()").Scan(&dbNow)
	after := time.Now()
	if err != nil {
		d.problem("postgres clock", err.Error(), "check that PostgreSQL answers queries")
		return true
	}
	d.clockSkew("postgres clock", "PostgreSQL", dbNow, before, after)
	return true
}

// clockSkew compares a server's time, read between before and after, with
// this machine's.
func (d *doctor) clockSkew(check, server string, theirs, before, after time.Time) {
	uncertainty := after.Sub(before) / 2
	skew := theirs.Sub(before.Add(uncertainty))
	if skew.Abs()-uncertainty > maxClockSkew {
		d.problem(check, fmt.Sprintf("%s's clock is %s off this machine's (more than %s)", server, skew.Round(time.Millisecond), maxClockSkew),
			"synchronise the clocks of this machine and "+server+"'s host (NTP): webhook signatures, token refresh and timers depend on them")
		return
	}
	d.ok(check, "%s off this machine's (measured to ±%s; more than %s would be a problem)", skew.Round(time.Millisecond), uncertainty.Round(time.Millisecond), maxClockSkew)
}

func (d *doctor) migrations(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
	defer cancel()
	states, err := migrate.Status(ctx, d.pool)
	if err != nil {
		d.problem("migrations", err.Error(), "check that the database user may read the schema")
		return false
	}
	var pending []string
	for _, s := range states {
		if !s.Applied {
			pending = append(pending, fmt.Sprintf("%04d_%s", s.Version, s.Name))
		}
	}
	if len(pending) > 0 {
		d.problem("migrations", fmt.Sprintf("%d of %d pending: %s (api and worker refuse to start)", len(pending), len(states), strings.Join(pending, ", ")),
			"run `referflow migrate` (safe from several processes at once)")
		return false
	}
	d.ok("migrations", "all %d applied", len(states))
	return true
}

func (d *doctor) hubSpotConnections(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
	defer cancel()
	q := db.New(d.pool)
	conns, err := q.HubSpotConnectionList(ctx)
	if err != nil {
		d.problem("hubspot connections", err.Error(), "check that PostgreSQL answers queries")
		return
	}
	if len(conns) == 0 {
		d.ok("hubspot connections", "no workspace has connected HubSpot yet (an admin opens %s)", d.connectURL())
		return
	}
	for _, conn := range conns {
		name := conn.WorkspaceID.String()
		if ws, err := q.WorkspaceGetByID(ctx, conn.WorkspaceID); err == nil {
			name = fmt.Sprintf("%q (%s)", ws.Name, conn.WorkspaceID)
		}
		check := "hubspot " + name
		reconnect := fmt.Sprintf("an admin of the workspace connects HubSpot again at %s (referrals waiting on it resume)", d.connectURL())
		switch {
		case conn.Status == hubspotconn.StatusBroken:
			fix := reconnect
			if conn.Kind == hubspotconn.KindPrivateApp {
				fix = "an admin saves the private app's current access token (POST /api/v1/hubspot/private-app-token), or connects through OAuth at " + d.connectURL()
			}
			d.problem(check, fmt.Sprintf("portal %d (%s): connection broken: %s", conn.PortalID, kindWords(conn.Kind), orNone(conn.BrokenReason, "no reason recorded")), fix)
			continue
		case conn.Status == hubspotconn.StatusDisconnected || conn.DisconnectedAt != nil:
			d.ok(check, "portal %d: disconnected by an admin; nothing is sent to HubSpot until someone connects again at %s", conn.PortalID, d.connectURL())
			continue
		}
		if missing := hubspotconn.MissingScopesFor(conn.Kind, conn.Scopes); len(missing) > 0 {
			fix := "an admin connects again at " + d.connectURL() + " and grants every scope asked for"
			if conn.Kind == hubspotconn.KindPrivateApp {
				fix = "give the private app these scopes in HubSpot (Settings › Integrations › Private apps), then an admin saves its token again (POST /api/v1/hubspot/private-app-token)"
			}
			d.problem(check, fmt.Sprintf("portal %d (%s): connected without the scopes %s: what needs them fails with 403", conn.PortalID, kindWords(conn.Kind), strings.Join(missing, ", ")), fix)
			continue
		}
		if d.box != nil {
			if err := hubspotconn.OpenStoredTokens(d.box, conn); err != nil {
				fix := "put the key the tokens were sealed with back into REFERFLOW_ENCRYPTION_KEY (after the current one), or " + reconnect
				if !errors.Is(err, tokencrypt.ErrUnknownKey) {
					fix = reconnect
				}
				d.problem(check, fmt.Sprintf("portal %d: %v", conn.PortalID, err), fix)
				continue
			}
		}
		if conn.Kind == hubspotconn.KindPrivateApp {
			d.ok(check, "portal %d: connected with a private app's access token, which has the read scopes referflow checks (its write scopes show in the property setup)", conn.PortalID)
			continue
		}
		d.ok(check, "portal %d: connected through OAuth with every scope referflow asks for", conn.PortalID)
	}
}

// kindWords says how a connection was made.
func kindWords(kind string) string {
	if kind == hubspotconn.KindPrivateApp {
		return "private app token"
	}
	return "OAuth"
}

func (d *doctor) connectURL() string {
	return d.cfg.PublicURL.JoinPath("oauth", "hubspot", "connect").String()
}

func orNone(s *string, none string) string {
	if s == nil || *s == "" {
		return none
	}
	return *s
}

func (d *doctor) salesEntries(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
	defer cancel()
	c, err := db.New(d.pool).SalesEntryCountUndispatched(ctx)
	if err != nil {
		d.problem("sales entries", err.Error(), "check that PostgreSQL answers queries")
		return
	}
	age := seconds(c.OldestAgeSeconds)
	if c.Entries > 0 && age > dispatchLagAfter {
		d.problem("sales entries", fmt.Sprintf("%d HubSpot event(s) wait for dispatch, the oldest received %s ago", c.Entries, age.Round(time.Second)),
			"check that a `referflow worker` runs and reaches Temporal (its log says why entries are retried; GET /api/v1/sales-entries/{id} shows dispatch_error)")
		return
	}
	d.ok("sales entries", "%d waiting for dispatch, none for more than %s", c.Entries, about(dispatchLagAfter))
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// about writes a threshold the way people say it: 5 min, 1 h.
func about(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.String()
}

func (d *doctor) referrals(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
	defer cancel()
	q := db.New(d.pool)
	unstarted, err := q.ReferralCountWithoutWorkflow(ctx)
	if err != nil {
		d.problem("referrals without workflow", err.Error(), "check that PostgreSQL answers queries")
		return
	}
	if age := seconds(unstarted.OldestAgeSeconds); unstarted.Referrals > 0 && age > noWorkflowAfter {
		d.problem("referrals without workflow", fmt.Sprintf("%d referral(s) have no workflow yet, the oldest saved %s ago", unstarted.Referrals, age.Round(time.Second)),
			"check that a `referflow worker` runs and reaches Temporal: its reconciler starts them")
	} else {
		d.ok("referrals without workflow", "none older than %s", about(noWorkflowAfter))
	}

	waiting, err := q.ReferralCountWaiting(ctx)
	if err != nil {
		d.problem("waiting referrals", err.Error(), "check that PostgreSQL answers queries")
		return
	}
	long := 0
	for _, w := range waiting {
		if age := seconds(w.OldestWaitSeconds); age > longWait {
			long++
			d.problem("waiting referrals", fmt.Sprintf("%d referral(s) wait to %s on %s, the longest for %s", w.Referrals, strings.ReplaceAll(w.Step, "_", " "), w.Cause, age.Round(time.Minute)),
				waitingFix(w.Cause)+"; then POST /api/v1/referrals/{id}/retry (or they retry on their own)")
		}
	}
	if long == 0 {
		d.ok("waiting referrals", "none waiting on the outside world for more than %s", about(longWait))
	}
}

// waitingFix says what mends the cause a referral waits on.
func waitingFix(cause string) string {
	switch cause {
	case "HubSpotConnectionBroken", "HubSpotNotConnected", "HubSpotUnauthorized":
		return "an admin of the workspace connects HubSpot again at /oauth/hubspot/connect"
	case "HubSpotValidation":
		return "HubSpot refused a property value: fix the campaign's field mapping or the property in HubSpot (GET /api/v1/referrals/{id} names it)"
	case "CampaignSetupRequired":
		return "complete the campaign's settings: GET /api/v1/campaigns/{id} lists setup_required"
	case "InvalidFulfilmentURL":
		return "set a fulfilment_webhook_url the webhook policy accepts on the campaign (PATCH /api/v1/campaigns/{id}), or allow its internal address with REFERFLOW_WEBHOOK_ALLOWED_NETWORKS on api and worker"
	case "WebhookDeliveryFailed":
		// Only referrals that waited before the outbox: retrying the step
		// issues the reward and queues its webhook.
		return "retry the step (POST /api/v1/referrals/{id}/retry): the reward's webhook now goes through the outbox (GET /api/v1/webhook-deliveries)"
	}
	return "GET /api/v1/referrals/{id} says what the referral waits on"
}

func (d *doctor) temporalReachable(ctx context.Context) bool {
	c, err := temporalclient.Dial(ctx, d.cfg.TemporalAddress, d.cfg.TemporalNamespace, newLogger(nil, io.Discard), nil, nil)
	if err != nil {
		d.problem("temporal", err.Error(), "check TEMPORAL_ADDRESS and that the Temporal frontend runs and accepts connections from this machine")
		return false
	}
	d.temporal = c
	d.ok("temporal", "reachable at %s", d.cfg.TemporalAddress)
	return true
}

func (d *doctor) namespace(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
	defer cancel()
	_, err := d.temporal.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: d.cfg.TemporalNamespace})
	var notFound *serviceerror.NamespaceNotFound
	if errors.As(err, &notFound) {
		d.problem("temporal namespace", fmt.Sprintf("namespace %q does not exist", d.cfg.TemporalNamespace),
			fmt.Sprintf("create it (`temporal operator namespace create --namespace %s`) or set TEMPORAL_NAMESPACE to the one referflow uses", d.cfg.TemporalNamespace))
		return false
	}
	if err != nil {
		d.problem("temporal namespace", err.Error(), "check that Temporal answers and this machine may describe the namespace")
		return false
	}
	d.ok("temporal namespace", "%q exists", d.cfg.TemporalNamespace)
	return true
}

func (d *doctor) searchAttributes(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
	defer cancel()
	resp, err := d.temporal.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: d.cfg.TemporalNamespace})
	if err != nil {
		d.problem("search attributes", err.Error(), "check that this machine may list the namespace's search attributes")
		return
	}
	var missing, wrong []string
	for _, name := range slices.Sorted(maps.Keys(workflows.SearchAttributes)) {
		want := workflows.SearchAttributes[name]
		have, ok := resp.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%s (%s)", name, typeName(want)))
		case have != want:
			wrong = append(wrong, fmt.Sprintf("%s is %s, referflow needs %s", name, typeName(have), typeName(want)))
		}
	}
	if len(wrong) > 0 {
		d.problem("search attributes", strings.Join(wrong, "; "), "remove those attributes from the namespace (`temporal operator search-attribute remove`) and start `referflow worker`, which registers them")
	}
	if len(missing) > 0 {
		d.problem("search attributes", "missing in namespace "+d.cfg.TemporalNamespace+": "+strings.Join(missing, ", "),
			"start `referflow worker` or `referflow api` once: both register them at start-up (or `temporal operator search-attribute create --name <name> --type <type>`)")
	}
	if len(missing)+len(wrong) == 0 {
		d.ok("search attributes", "all %d registered", len(workflows.SearchAttributes))
	}
}

func typeName(t enumspb.IndexedValueType) string {
	return strings.TrimPrefix(t.String(), "INDEXED_VALUE_TYPE_")
}

// temporalClock reads Temporal's clock as the start time of a workflow it
// starts and at once terminates.
func (d *doctor) temporalClock(ctx context.Context) {
	const check = "temporal clock"
	ctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
	defer cancel()
	before := time.Now()
	run, err := d.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       clockProbeWorkflowID,
		TaskQueue:                "referflow-doctor",
		WorkflowExecutionTimeout: time.Minute, // ends by itself should the terminate fail
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
		StaticSummary:            "referflow doctor reads Temporal's clock; terminated at once",
	}, "ReferflowDoctorClockProbe")
	after := time.Now()
	if err != nil {
		d.problem(check, "start a probe workflow: "+err.Error(), "check that this machine may start workflows in the namespace")
		return
	}
	defer func() {
		_ = d.temporal.TerminateWorkflow(context.WithoutCancel(ctx), clockProbeWorkflowID, run.GetRunID(), "referflow doctor: clock probe done")
	}()
	desc, err := d.temporal.DescribeWorkflowExecution(ctx, clockProbeWorkflowID, run.GetRunID())
	if err != nil {
		d.problem(check, "describe the probe workflow: "+err.Error(), "check that Temporal answers")
		return
	}
	d.clockSkew(check, "Temporal", desc.GetWorkflowExecutionInfo().GetStartTime().AsTime(), before, after)
}

// referralRuns finds referral workflow runs that failed, were terminated or
// timed out and whose workflow has not run again since.
func (d *doctor) referralRuns(ctx context.Context) {
	const check = "referral workflows"
	ctx, cancel := context.WithTimeout(ctx, 2*doctorCheckTimeout)
	defer cancel()
	ids, err := worker.FailedReferrals(ctx, d.temporal, d.cfg.TemporalNamespace, d.taskQueue)
	if err != nil {
		d.problem(check, err.Error(), "check that Temporal's visibility answers")
		return
	}
	if len(ids) > maxRunsChecked {
		ids = ids[:maxRunsChecked]
	}
	// A resumed referral has a newer run: only workflows whose latest run
	// ended badly need resuming.
	var stuck []string
	for _, referralID := range ids {
		id := workflows.ReferralWorkflowID(referralID)
		desc, err := d.temporal.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			d.problem(check, fmt.Sprintf("describe %s: %v", id, err), "check that Temporal answers")
			return
		}
		switch st := desc.GetWorkflowExecutionInfo().GetStatus(); st {
		case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED,
			enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
			stuck = append(stuck, fmt.Sprintf("%s (%s)", id, strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_"))))
		}
	}
	if len(stuck) == 0 {
		d.ok(check, "no failed, terminated, timed-out or cancelled referral run left unresumed")
		return
	}
	shown := stuck
	if len(shown) > 5 {
		shown = append(slices.Clip(shown[:5]), fmt.Sprintf("and %d more", len(stuck)-5))
	}
	d.problem(check, fmt.Sprintf("%d referral workflow(s) ended without finishing: %s", len(stuck), strings.Join(shown, ", ")),
		"run `referflow referrals resume` to restart them where they stopped (see docs/operations.md); their histories in the Temporal Web UI say why they ended")
}

// email checks REFERFLOW_SMTP_URL. Unset is no problem, but it is said: no
// email goes to members. Set, the server must answer from here, upgrade to
// TLS when it offers it and take the credentials, as the worker's sends do.
func (d *doctor) email(ctx context.Context) {
	srv := d.cfg.SMTP
	if srv == nil {
		d.ok("email", "off: REFERFLOW_SMTP_URL is not set, so no email is sent to members (welcome, referral approved, reward earned)")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, doctorCheckTimeout)
	defer cancel()
	if err := email.NewSender(srv, d.cfg.PublicURL.Hostname()).Check(ctx); err != nil {
		d.problem("email", err.Error(), "check REFERFLOW_SMTP_URL (host, port, user name, password; smtps:// for TLS from the start) and that the SMTP server answers from this machine")
		return
	}
	d.ok("email", "%s answers (%s); emails to members are sent from %s", srv, srv.Security(), srv.From.Address)
}
