package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// The activities of a CSV import's workflow (workflows/csv_import.go). The
// upload is staged in import_rows; each batch reads the rows after the last
// one whose outcome is committed (imports.processed_through), adds them,
// and commits their outcome — counts, bad rows, the row reached — in one
// transaction, guarded by the row it started from. A retried batch, or one
// run again after a worker died, continues from the last commit: nothing is
// added or counted twice.

// ImportProgress is where an import stands: what the API shows, what the
// workflow's progress query answers and its activities return.
type ImportProgress struct {
	ImportID         string
	Kind             referral.ImportKind
	Status           referral.ImportStatus
	RowsRead         int
	RowsProcessed    int
	Added            int
	Skipped          int
	Failed           int
	WorkflowsStarted int
	// RowsDone: every row has its outcome. StartsDone: every referral
	// added so far has had its workflow started.
	RowsDone   bool `json:",omitempty"`
	StartsDone bool `json:",omitempty"`
	// Stopped says why the import cannot go on (the campaign left active).
	Stopped string `json:",omitempty"`
}

func progressOf(imp db.Import) ImportProgress {
	return ImportProgress{
		ImportID: imp.ID.String(), Kind: referral.ImportKind(imp.Kind), Status: referral.ImportStatus(imp.Status),
		RowsRead: int(imp.RowsRead), RowsProcessed: int(imp.RowsProcessed), Added: int(imp.RowsAdded),
		Skipped: int(imp.RowsSkipped), Failed: int(imp.RowsFailed), WorkflowsStarted: int(imp.WorkflowsStarted),
		RowsDone: imp.RowsProcessed >= imp.RowsRead, StartsDone: imp.StartedThrough >= imp.ProcessedThrough,
	}
}

// ImportBatch asks for the next batch of an import's rows.
type ImportBatch struct {
	ImportID string
	// Size is how many rows at most (default 1,000).
	Size int
}

// DefaultImportBatchSize is how many rows one ImportCSVBatch adds.
const DefaultImportBatchSize = 1000

// StartCSVImport marks the import running and says where it stands.
func (a *Activities) StartCSVImport(ctx context.Context, importID string) (ImportProgress, error) {
	id, err := parseEntityID(importID, "import")
	if err != nil {
		return ImportProgress{}, err
	}
	if err := a.Queries.ImportStart(ctx, id); err != nil {
		return ImportProgress{}, fmt.Errorf("mark import %s running: %w", id, err)
	}
	imp, err := a.Queries.ImportGetByID(ctx, id)
	if err != nil {
		return ImportProgress{}, fmt.Errorf("read import %s: %w", id, err)
	}
	return progressOf(imp), nil
}

// rowOutcome is what became of one row of a batch.
type batchOutcome struct {
	processed, added, skipped, failed int
	through                           int32
	errors                            []db.ImportErrorInsertParams
	referrals                         map[int32]uuid.UUID
	stopped                           string
}

func (o *batchOutcome) fail(importID uuid.UUID, row int32, email, reason string) {
	o.failed++
	var e *string
	if email != "" {
		e = &email
	}
	o.errors = append(o.errors, db.ImportErrorInsertParams{ImportID: importID, RowNumber: row, Email: e, Reason: reason})
}

// ImportCSVBatch adds the next batch of an import's rows and commits their
// outcome. It returns the import's progress; RowsDone when no row is left,
// Stopped when the campaign left active (the rows before it keep their
// outcome, the rest are left).
func (a *Activities) ImportCSVBatch(ctx context.Context, in ImportBatch) (ImportProgress, error) {
	id, err := parseEntityID(in.ImportID, "import")
	if err != nil {
		return ImportProgress{}, err
	}
	size := in.Size
	if size <= 0 {
		size = DefaultImportBatchSize
	}
	imp, err := a.Queries.ImportGetByID(ctx, id)
	if err != nil {
		return ImportProgress{}, fmt.Errorf("read import %s: %w", id, err)
	}
	if imp.Status == string(referral.ImportCompleted) || imp.Status == string(referral.ImportFailed) {
		// Ended already (its start was refused as failed, a run started
		// again): nothing is left to do, and a failure stays one.
		p := progressOf(imp)
		p.RowsDone, p.StartsDone = true, true
		if imp.Status == string(referral.ImportFailed) {
			p.Stopped = "the import had ended as failed"
			if imp.FailureReason != nil {
				p.Stopped = *imp.FailureReason
			}
		}
		return p, nil
	}
	kind := referral.ImportKind(imp.Kind)
	cols, err := referral.MapImportColumns(kind, imp.Header)
	if err != nil {
		return ImportProgress{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", err)
	}
	rows, err := a.Queries.ImportRowListAfter(ctx, db.ImportRowListAfterParams{ImportID: id, AfterRow: imp.ProcessedThrough, MaxResults: int32(size)})
	if err != nil {
		return ImportProgress{}, fmt.Errorf("read the rows of import %s: %w", id, err)
	}
	if len(rows) == 0 {
		p := progressOf(imp)
		p.RowsDone = true
		return p, nil
	}
	tx, err := a.Pool.Begin(ctx)
	if err != nil {
		return ImportProgress{}, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	out := batchOutcome{through: imp.ProcessedThrough}
	switch kind {
	case referral.ImportMembers:
		err = importMembers(ctx, tx, imp, cols, rows, &out)
	case referral.ImportReferrals:
		err = a.importReferrals(ctx, imp, cols, rows, &out)
	}
	if err != nil {
		return ImportProgress{}, err
	}
	q := db.New(tx)
	for _, e := range out.errors {
		if err := q.ImportErrorInsert(ctx, e); err != nil {
			return ImportProgress{}, fmt.Errorf("record a bad row of import %s: %w", id, err)
		}
	}
	for row, ref := range out.referrals {
		if err := q.ImportRowSetReferral(ctx, db.ImportRowSetReferralParams{ImportID: id, RowNumber: row, ReferralID: &ref}); err != nil {
			return ImportProgress{}, fmt.Errorf("record the referral of a row of import %s: %w", id, err)
		}
	}
	n, err := q.ImportRecordBatch(ctx, db.ImportRecordBatchParams{
		ID: id, FromRow: imp.ProcessedThrough, Through: out.through,
		Processed: int32(out.processed), Added: int32(out.added), Skipped: int32(out.skipped), Failed: int32(out.failed),
	})
	if err != nil {
		return ImportProgress{}, fmt.Errorf("record a batch of import %s: %w", id, err)
	}
	if n == 1 {
		if err := tx.Commit(ctx); err != nil {
			return ImportProgress{}, fmt.Errorf("commit a batch of import %s: %w", id, err)
		}
	} // else: another attempt of this batch committed first; this one is rolled back
	imp, err = a.Queries.ImportGetByID(ctx, id)
	if err != nil {
		return ImportProgress{}, fmt.Errorf("read import %s: %w", id, err)
	}
	p := progressOf(imp)
	p.Stopped = out.stopped
	return p, nil
}

// importFieldLimits are the longest values the API takes for the same
// fields (its limit tags), and the referrals table's phone.
var importFieldLimits = map[referral.ImportField]int{
	referral.FieldFirstName: 200, referral.FieldLastName: 200, referral.FieldExternalID: 200,
	referral.FieldCompany: 200, referral.FieldPhone: 50, referral.FieldMemberCode: 100,
}

// rowProblem says what is wrong with a row's values, or "".
func rowProblem(cols referral.ImportColumns, fields []string) string {
	for _, f := range fields {
		if !utf8.ValidString(f) || strings.ContainsRune(f, 0) {
			return "a value holds a NUL character or is not valid UTF-8"
		}
	}
	if err := referral.CheckEmail(cols.Get(fields, referral.FieldEmail)); err != nil {
		return "email " + err.Error()
	}
	for f, n := range importFieldLimits {
		if v := cols.Get(fields, f); utf8.RuneCountInString(v) > n {
			return fmt.Sprintf("%s is longer than %d characters", f, n)
		}
	}
	return ""
}

func blankRow(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// importMembers adds a batch of members with AddMembers in the batch's
// transaction: they commit with the batch's outcome, or not at all.
func importMembers(ctx context.Context, tx pgx.Tx, imp db.Import, cols referral.ImportColumns, rows []db.ImportRowListAfterRow, out *batchOutcome) error {
	var batch []NewMember
	var batchRows []db.ImportRowListAfterRow
	for _, r := range rows {
		email := cols.Get(r.Fields, referral.FieldEmail)
		switch {
		case r.Problem != nil:
			out.fail(imp.ID, r.RowNumber, "", *r.Problem)
		case blankRow(r.Fields):
			out.skipped++
		default:
			code := cols.Get(r.Fields, referral.FieldReferralCode)
			if p := rowProblem(cols, r.Fields); p != "" {
				out.fail(imp.ID, r.RowNumber, email, p)
				continue
			}
			if code != "" && !referral.CodePattern.MatchString(code) {
				out.fail(imp.ID, r.RowNumber, email, "referral_code must be 1 to 64 letters, digits, - or _")
				continue
			}
			batch = append(batch, NewMember{
				WorkspaceID: imp.WorkspaceID, CampaignID: imp.CampaignID, Email: email,
				FirstName: cols.Get(r.Fields, referral.FieldFirstName), LastName: cols.Get(r.Fields, referral.FieldLastName),
				ExternalID: cols.Get(r.Fields, referral.FieldExternalID), ReferralCode: code, Source: referral.MemberSourceCSV,
			})
			batchRows = append(batchRows, r)
		}
	}
	added, err := AddMembers(ctx, tx, batch)
	if err != nil {
		return err
	}
	var notActive *campaign.NotActiveError
	for _, res := range added {
		if errors.As(res.Err, &notActive) {
			return stopBatch(out, notActive.Error())
		}
	}
	for k, res := range added {
		r := batchRows[k]
		var dup *DuplicateMemberError
		var codeTaken *CodeTakenError
		var externalTaken *ExternalIDTakenError
		switch {
		case res.Err == nil:
			out.added++
		case errors.As(res.Err, &dup):
			out.skipped++
		case errors.As(res.Err, &codeTaken):
			out.fail(imp.ID, r.RowNumber, batch[k].Email, "the referral code "+codeTaken.Code+" is another member's")
		case errors.As(res.Err, &externalTaken):
			out.fail(imp.ID, r.RowNumber, batch[k].Email, "the external ID is another member's")
		default:
			out.fail(imp.ID, r.RowNumber, batch[k].Email, res.Err.Error())
		}
	}
	out.processed += len(rows)
	out.through = rows[len(rows)-1].RowNumber
	return nil
}

// stopBatch ends a batch of members found the campaign not active: no
// member of it was added (one transaction), so nothing of it is recorded —
// its rows stay for a later run, bad rows included.
func stopBatch(out *batchOutcome, why string) error {
	*out = batchOutcome{through: out.through, stopped: why}
	return nil
}

// importReferrals adds a batch of referrals one by one with AddReferral
// (each commits on its own, with its added event). A row added by an
// earlier attempt of this batch is known by its added event (the import and
// row are in its details) and counted as added.
func (a *Activities) importReferrals(ctx context.Context, imp db.Import, cols referral.ImportColumns, rows []db.ImportRowListAfterRow, out *batchOutcome) error {
	out.referrals = map[int32]uuid.UUID{}
	members := map[string]*db.Member{} // "code:X" or "email:x" → member (nil: none)
	actor := "system"
	if imp.CreatedBy != nil {
		actor = "admin:" + imp.CreatedBy.String()
	}
	for _, r := range rows {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		email := cols.Get(r.Fields, referral.FieldEmail)
		if r.Problem != nil {
			out.fail(imp.ID, r.RowNumber, "", *r.Problem)
			out.processed++
			out.through = r.RowNumber
			continue
		}
		if blankRow(r.Fields) {
			out.skipped++
			out.processed++
			out.through = r.RowNumber
			continue
		}
		m, problem, err := a.importRowMember(ctx, imp.CampaignID, cols, r.Fields, members)
		if err != nil {
			return err
		}
		if problem == "" {
			problem = rowProblem(cols, r.Fields)
		}
		if problem != "" {
			out.fail(imp.ID, r.RowNumber, email, problem)
			out.processed++
			out.through = r.RowNumber
			continue
		}
		var externalID *string
		if v := cols.Get(r.Fields, referral.FieldExternalID); v != "" {
			externalID = &v
		}
		row := strconv.Itoa(int(r.RowNumber))
		added, err := AddReferral(ctx, a.Pool, NewReferral{
			Member: *m, Source: referral.SourceCSVImport, Actor: actor, ExternalID: externalID,
			Lead: Lead{
				Email: email, FirstName: cols.Get(r.Fields, referral.FieldFirstName), LastName: cols.Get(r.Fields, referral.FieldLastName),
				Company: cols.Get(r.Fields, referral.FieldCompany), Phone: cols.Get(r.Fields, referral.FieldPhone),
			},
			Details: map[string]any{"import_id": imp.ID.String(), "import_row": row},
		})
		var dup *DuplicateLeadError
		var notActive *campaign.NotActiveError
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			out.added++
			out.referrals[r.RowNumber] = added.ID
		case errors.As(err, &dup):
			ours := false
			if dup.Existing.CreatedAt.After(imp.CreatedAt) {
				ours, err = a.Queries.ReferralEventAddedByImportRow(ctx, db.ReferralEventAddedByImportRowParams{
					ReferralID: dup.Existing.ID, ImportID: imp.ID.String(), ImportRow: row,
				})
				if err != nil {
					return fmt.Errorf("read how referral %s was added: %w", dup.Existing.ID, err)
				}
			}
			if ours {
				out.added++
				out.referrals[r.RowNumber] = dup.Existing.ID
			} else {
				out.skipped++
			}
		case errors.As(err, &notActive):
			out.stopped = notActive.Error()
			return nil
		case errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")):
			// The database refused the row's values: the row's fault.
			out.fail(imp.ID, r.RowNumber, email, "the database refused a value: "+pgErr.Message)
		default:
			return err // the database is unreachable: the batch is retried
		}
		out.processed++
		out.through = r.RowNumber
	}
	return nil
}

// importRowMember finds the member a referrals row names (by code, else by
// email), or says why the row has none.
func (a *Activities) importRowMember(ctx context.Context, campaignID uuid.UUID, cols referral.ImportColumns, fields []string, cache map[string]*db.Member) (*db.Member, string, error) {
	code := cols.Get(fields, referral.FieldMemberCode)
	memberEmail := cols.Get(fields, referral.FieldMemberEmail)
	var key string
	switch {
	case code != "":
		key = "code:" + code
	case memberEmail != "":
		key = "email:" + strings.ToLower(memberEmail)
	default:
		return nil, "the row names no member (member_code or member_email is empty)", nil
	}
	m, seen := cache[key]
	if !seen {
		var row db.Member
		var err error
		if code != "" {
			row, err = a.Queries.MemberGetByCode(ctx, db.MemberGetByCodeParams{CampaignID: campaignID, ReferralCode: code})
		} else {
			row, err = a.Queries.MemberGetByEmail(ctx, db.MemberGetByEmailParams{CampaignID: campaignID, Email: memberEmail})
		}
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return nil, "", fmt.Errorf("find the member of an imported referral: %w", err)
		default:
			m = &row
		}
		cache[key] = m
	}
	if m == nil {
		if code != "" {
			return nil, "no member of the campaign has the code " + code, nil
		}
		return nil, "no member of the campaign has the email " + memberEmail, nil
	}
	return m, "", nil
}

// ImportStarts asks to start the workflows of an import's referrals.
type ImportStarts struct {
	ImportID string
	// PerSecond is how many workflows start a second at most; Max how many
	// this activity starts at most (it then returns, the workflow calls it
	// again).
	PerSecond int
	Max       int
}

// StartImportedReferralWorkflows starts, at most PerSecond a second, the
// workflows of the referrals the import added (rows after
// imports.started_through, up to processed_through), and records how far
// it got every few starts. Starting is idempotent (the workflow ID is the
// referral's), so a retry that starts one again is harmless.
func (a *Activities) StartImportedReferralWorkflows(ctx context.Context, in ImportStarts) (ImportProgress, error) {
	if a.StartReferralWorkflow == nil {
		return ImportProgress{}, temporal.NewNonRetryableApplicationError("this worker cannot start referral workflows", "NotConfigured", nil)
	}
	id, err := parseEntityID(in.ImportID, "import")
	if err != nil {
		return ImportProgress{}, err
	}
	imp, err := a.Queries.ImportGetByID(ctx, id)
	if err != nil {
		return ImportProgress{}, fmt.Errorf("read import %s: %w", id, err)
	}
	maxStarts := max(in.Max, 1)
	rows, err := a.Queries.ImportRowListReferralsAfter(ctx, db.ImportRowListReferralsAfterParams{
		ImportID: id, AfterRow: imp.StartedThrough, ThroughRow: imp.ProcessedThrough, MaxResults: int32(maxStarts),
	})
	if err != nil {
		return ImportProgress{}, fmt.Errorf("list the referrals of import %s: %w", id, err)
	}
	through := imp.ProcessedThrough // nothing left: caught up with the rows processed
	if len(rows) == maxStarts {
		through = rows[len(rows)-1].RowNumber
	}
	every := time.Second / time.Duration(max(in.PerSecond, 1))
	tick := time.NewTicker(every)
	defer tick.Stop()
	from, started, last := imp.StartedThrough, 0, imp.StartedThrough
	record := func(upTo int32) error {
		if upTo == from {
			return nil
		}
		n, err := a.Queries.ImportRecordStarts(ctx, db.ImportRecordStartsParams{ID: id, FromRow: from, Through: upTo, Started: int32(started)})
		if err != nil {
			return fmt.Errorf("record the workflows import %s started: %w", id, err)
		}
		if n == 0 {
			return temporal.NewApplicationError("another attempt is starting this import's workflows", "Concurrent")
		}
		from, started = upTo, 0
		return nil
	}
	for k, r := range rows {
		if k > 0 {
			select {
			case <-ctx.Done():
				return ImportProgress{}, ctx.Err()
			case <-tick.C:
			}
		}
		if err := a.StartReferralWorkflow(ctx, r.ReferralID.String()); err != nil {
			if rerr := record(last); rerr != nil {
				return ImportProgress{}, rerr
			}
			return ImportProgress{}, fmt.Errorf("start the workflow of referral %s: %w", r.ReferralID, err)
		}
		started++
		last = r.RowNumber
		if started%50 == 0 {
			if err := record(last); err != nil {
				return ImportProgress{}, err
			}
		}
	}
	if err := record(through); err != nil {
		return ImportProgress{}, err
	}
	imp, err = a.Queries.ImportGetByID(ctx, id)
	if err != nil {
		return ImportProgress{}, fmt.Errorf("read import %s: %w", id, err)
	}
	return progressOf(imp), nil
}

// ImportEnd ends an import: completed, or failed with the reason.
type ImportEnd struct {
	ImportID string
	Failure  string `json:",omitempty"`
}

// FinishCSVImport records the end of an import and drops its staged rows
// (the bad rows stay, for errors.csv).
func (a *Activities) FinishCSVImport(ctx context.Context, in ImportEnd) (ImportProgress, error) {
	id, err := parseEntityID(in.ImportID, "import")
	if err != nil {
		return ImportProgress{}, err
	}
	status, reason := referral.ImportCompleted, (*string)(nil)
	if in.Failure != "" {
		status, reason = referral.ImportFailed, &in.Failure
	}
	imp, err := a.Queries.ImportFinish(ctx, db.ImportFinishParams{ID: id, Status: string(status), FailureReason: reason})
	if err != nil {
		return ImportProgress{}, fmt.Errorf("finish import %s: %w", id, err)
	}
	if err := a.Queries.ImportRowDeleteAll(ctx, id); err != nil {
		return ImportProgress{}, fmt.Errorf("drop the staged rows of import %s: %w", id, err)
	}
	return progressOf(imp), nil
}
