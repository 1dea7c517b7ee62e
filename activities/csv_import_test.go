package activities_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/referral"
)

// stageImport records an import of the fixture's campaign with its rows, as
// the API's upload does.
func stageImport(t *testing.T, d *testenv.Database, fx testenv.ReferralFixture, kind referral.ImportKind, header []string, rows [][]string) db.Import {
	t.Helper()
	ctx := context.Background()
	imp, err := d.Queries.ImportCreate(ctx, db.ImportCreateParams{WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, Kind: string(kind), Header: header})
	if err != nil {
		t.Fatal(err)
	}
	src := make([][]any, len(rows))
	for i, r := range rows {
		src[i] = []any{imp.ID, int32(i + 2), r, nil}
	}
	if _, err := d.Queries.ImportRowsCopy(ctx, pgx.CopyFromRows(src)); err != nil {
		t.Fatal(err)
	}
	if err := d.Queries.ImportSetRowsRead(ctx, db.ImportSetRowsReadParams{ID: imp.ID, RowsRead: int32(len(rows))}); err != nil {
		t.Fatal(err)
	}
	return imp
}

// Two attempts of the same batch at once (a retry while the first still
// runs, a worker thought dead): the members are added and counted once.
func TestImportBatchAttemptsAtOnceCountOnce(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	var rows [][]string
	for i := range 300 {
		rows = append(rows, []string{fmt.Sprintf("m%d@example.com", i), "M" + strconv.Itoa(i)})
	}
	imp := stageImport(t, d, fx, referral.ImportMembers, []string{"email", "first_name"}, rows)
	acts := activities.New(d.Pool)
	ctx := context.Background()
	in := activities.ImportBatch{ImportID: imp.ID.String(), Size: 200}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = acts.ImportCSVBatch(ctx, in) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := acts.ImportCSVBatch(ctx, in) // the rest
	if err != nil {
		t.Fatal(err)
	}
	if p.RowsProcessed != 300 || p.Added != 300 || p.Skipped != 0 || !p.RowsDone {
		t.Fatalf("after the batches: %+v; want 300 added once", p)
	}
	if p, _ := acts.ImportCSVBatch(ctx, in); p.RowsProcessed != 300 || !p.RowsDone {
		t.Fatalf("a batch after the end changed %+v", p)
	}
}

// A referrals batch whose attempt died after adding a row but before
// committing the batch: the next attempt counts that row as added (not as
// already there) and starts its workflow with the rest.
func TestImportReferralsResumeAfterAnAttemptDied(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	code := fx.Member.ReferralCode
	imp := stageImport(t, d, fx, referral.ImportReferrals, []string{"email", "member_code"}, [][]string{
		{"ann@example.org", code}, {"bo@example.org", code}, {"leo@example.org", code},
	})
	ctx := context.Background()
	// The dead attempt added row 2's referral.
	first, err := activities.AddReferral(ctx, d.Pool, activities.NewReferral{
		Member: fx.Member, Lead: activities.Lead{Email: "ann@example.org"}, Source: referral.SourceCSVImport,
		Details: map[string]any{"import_id": imp.ID.String(), "import_row": "2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var started []string
	acts := activities.New(d.Pool)
	acts.StartReferralWorkflow = func(_ context.Context, id string) error {
		mu.Lock()
		defer mu.Unlock()
		started = append(started, id)
		return nil
	}
	p, err := acts.ImportCSVBatch(ctx, activities.ImportBatch{ImportID: imp.ID.String()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Added != 2 || p.Skipped != 1 || p.Failed != 0 || !p.RowsDone {
		t.Fatalf("progress %+v; want ann (by the dead attempt) and bo added, leo (the fixture's lead) skipped", p)
	}
	bo, err := d.Queries.ReferralGetByLeadEmail(ctx, db.ReferralGetByLeadEmailParams{CampaignID: fx.Campaign.ID, LeadEmail: "bo@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acts.StartImportedReferralWorkflows(ctx, activities.ImportStarts{ImportID: imp.ID.String(), PerSecond: 1000, Max: 10}); err != nil {
		t.Fatal(err)
	}
	want := []string{first.ID.String(), bo.ID.String()}
	if fmt.Sprint(started) != fmt.Sprint(want) {
		t.Fatalf("started %v, want %v (each imported referral once, in row order)", started, want)
	}
	again, err := acts.StartImportedReferralWorkflows(ctx, activities.ImportStarts{ImportID: imp.ID.String(), PerSecond: 1000, Max: 10})
	if err != nil || len(started) != 2 || again.WorkflowsStarted != 2 || !again.StartsDone {
		t.Fatalf("a second pass: %+v %v, started %v", again, err, started)
	}
}

// A members batch finding the campaign paused adds nothing and says so; the
// rows stay for later.
func TestImportStopsWhenTheCampaignIsNotActive(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	imp := stageImport(t, d, fx, referral.ImportMembers, []string{"email"}, [][]string{{"a@example.com"}, {"bad"}})
	ctx := context.Background()
	if _, err := d.Pool.Exec(ctx, `UPDATE campaigns SET status = 'paused' WHERE id = $1`, fx.Campaign.ID); err != nil {
		t.Fatal(err)
	}
	p, err := activities.New(d.Pool).ImportCSVBatch(ctx, activities.ImportBatch{ImportID: imp.ID.String()})
	if err != nil || p.Stopped == "" || p.RowsProcessed != 0 || p.Added != 0 {
		t.Fatalf("batch in a paused campaign: %+v %v", p, err)
	}
	if _, err := d.Queries.MemberGetByEmail(ctx, db.MemberGetByEmailParams{CampaignID: fx.Campaign.ID, Email: "a@example.com"}); err == nil {
		t.Fatal("a member was added to a paused campaign")
	}
}

// AddMembers settles every member of a batch as AddMember would one.
func TestAddMembersSettlesEachMember(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	m := func(email, code, ext string) activities.NewMember {
		return activities.NewMember{WorkspaceID: fx.Workspace.ID, CampaignID: fx.Campaign.ID, Email: email, ReferralCode: code, ExternalID: ext, Source: referral.MemberSourceCSV}
	}
	out, err := activities.AddMembers(context.Background(), d.Pool, []activities.NewMember{
		m("new@example.com", "", ""),     // added
		m("Maya@Example.com", "", ""),    // the fixture's member
		m("NEW@example.com", "", ""),     // same as the first
		m("c@example.com", "CODE-1", ""), // added
		m("d@example.com", "CODE-1", ""), // code taken by the row before
		m("e@example.com", fx.Member.ReferralCode, ""),
		m("f@example.com", "", "x-1"), // added
		m("g@example.com", "", "x-1"), // external ID taken
		m(" ", "", ""),                // no email
	})
	if err != nil {
		t.Fatal(err)
	}
	var dup *activities.DuplicateMemberError
	var code *activities.CodeTakenError
	var ext *activities.ExternalIDTakenError
	checks := []bool{
		out[0].Err == nil && out[0].Member.Email == "new@example.com",
		asDup(out[1].Err, &dup) && dup.Existing.ID == fx.Member.ID,
		asDup(out[2].Err, &dup) && dup.Existing.ID == out[0].Member.ID,
		out[3].Err == nil && out[3].Member.ReferralCode == "CODE-1",
		asCode(out[4].Err, &code),
		asCode(out[5].Err, &code),
		out[6].Err == nil,
		asExt(out[7].Err, &ext),
		out[8].Err != nil,
	}
	for i, ok := range checks {
		if !ok {
			t.Errorf("member %d: %+v", i, out[i])
		}
	}
}

func asDup(err error, target **activities.DuplicateMemberError) bool { return errors.As(err, target) }
func asCode(err error, target **activities.CodeTakenError) bool      { return errors.As(err, target) }
func asExt(err error, target **activities.ExternalIDTakenError) bool {
	return errors.As(err, target)
}

// An import that has ended (its start was refused and recorded as failed,
// yet its workflow runs) is done at once, keeping its failure.
func TestImportBatchOfAnEndedImport(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	fx := d.SeedReferral(t)
	imp := stageImport(t, d, fx, referral.ImportMembers, []string{"email"}, [][]string{{"a@example.com"}})
	ctx := context.Background()
	reason := "its workflow could not start"
	if _, err := d.Queries.ImportFinish(ctx, db.ImportFinishParams{ID: imp.ID, Status: string(referral.ImportFailed), FailureReason: &reason}); err != nil {
		t.Fatal(err)
	}
	p, err := activities.New(d.Pool).ImportCSVBatch(ctx, activities.ImportBatch{ImportID: imp.ID.String()})
	if err != nil || !p.RowsDone || !p.StartsDone || p.Stopped != reason || p.Added != 0 {
		t.Fatalf("a batch of a failed import: %+v %v; want done at once, still failed", p, err)
	}
}
