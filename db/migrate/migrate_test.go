package migrate_test

import (
	"sync"
	"testing"
	"testing/fstest"

	"github.com/referflow/referflow/db/migrate"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// The embedded files themselves follow the naming contract, in order: a bad
// file name fails here, before it ships. Versions may skip numbers: numbers
// are handed out ahead to work in progress, which may land in another order
// (Up applies a lower version that arrives after a higher one).
func TestEmbeddedMigrationsAreWellFormed(t *testing.T) {
	t.Parallel()
	migs, err := migrate.All()
	if err != nil {
		t.Fatalf("Migrations: %v", err)
	}
	if len(migs) == 0 {
		t.Fatal("no embedded migrations")
	}
	for i, m := range migs {
		if i > 0 && m.Version <= migs[i-1].Version {
			t.Errorf("migration %s has version %d, not above %s's", m.File, m.Version, migs[i-1].File)
		}
		if m.SQL == "" || len(m.Checksum) != 64 {
			t.Errorf("migration %s: empty SQL or bad checksum %q", m.File, m.Checksum)
		}
	}
	if migs[0].File != "0001_initial.sql" || migs[0].Name != "initial" {
		t.Errorf("first migration = %s (%s), want 0001_initial.sql (initial)", migs[0].File, migs[0].Name)
	}
}

func TestParseMigrationFileName(t *testing.T) {
	t.Parallel()
	good := map[string]struct {
		version int
		name    string
	}{
		"0001_initial.sql":           {1, "initial"},
		"0042_add_rewards_index.sql": {42, "add_rewards_index"},
		"9999_v2.sql":                {9999, "v2"},
	}
	for file, want := range good {
		v, n, err := migrate.ParseFileName(file)
		if err != nil || v != want.version || n != want.name {
			t.Errorf("ParseMigrationFileName(%q) = %d, %q, %v; want %d, %q", file, v, n, err, want.version, want.name)
		}
	}
	for _, file := range []string{
		"1_initial.sql", "00001_initial.sql", "0001-initial.sql", "0001_Initial.sql",
		"0001_initial.SQL", "0001_.sql", "0001_a__b.sql", "0000_zero.sql", "abcd_x.sql",
		"0001_initial.sql.bak", "initial.sql", "0001_initial",
	} {
		if _, _, err := migrate.ParseFileName(file); err == nil {
			t.Errorf("ParseMigrationFileName(%q) accepted a malformed name", file)
		} else {
			requireContains(t, err, file)
		}
	}
}

func TestParseMigrationsRefusesBadSets(t *testing.T) {
	t.Parallel()
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	_, err := migrate.ParseMigrations(fstest.MapFS{"m/0001_a.sql": sql, "m/notes.txt": sql}, "m")
	requireContains(t, err, "notes.txt", "malformed")
	_, err = migrate.ParseMigrations(fstest.MapFS{"m/0001_a.sql": sql, "m/0001_b.sql": sql}, "m")
	requireContains(t, err, "0001_a.sql", "0001_b.sql", "same version")

	migs, err := migrate.ParseMigrations(fstest.MapFS{"m/0002_b.sql": sql, "m/0010_c.sql": sql, "m/0001_a.sql": sql}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) != 3 || migs[0].Version != 1 || migs[1].Version != 2 || migs[2].Version != 10 {
		t.Fatalf("migrations not in version order: %+v", migs)
	}
}

func TestMigrateTwiceAppliesNothingTheSecondTime(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	_, pool := emptySchema(t, testenv.NewDatabase(t))
	migs, _ := migrate.All()

	first, err := migrate.Up(ctx, pool)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	if len(first) != len(migs) {
		t.Fatalf("first Migrate applied %d migrations, want %d", len(first), len(migs))
	}
	for i, a := range first {
		if a.Version != migs[i].Version || a.Checksum != migs[i].Checksum || a.AppliedAt.IsZero() {
			t.Errorf("applied[%d] = %+v, want %s", i, a, migs[i].File)
		}
	}
	second, err := migrate.Up(ctx, pool)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(second) != 0 {
		t.Fatalf("second Migrate applied %v, want nothing", second)
	}
}

func TestMigrationStatus(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	_, pool := emptySchema(t, testenv.NewDatabase(t))
	migs, _ := migrate.All()

	before, err := migrate.Status(ctx, pool)
	if err != nil {
		t.Fatalf("MigrationStatus on an empty schema: %v", err)
	}
	if len(before) != len(migs) {
		t.Fatalf("MigrationStatus listed %d migrations, want %d", len(before), len(migs))
	}
	for _, s := range before {
		if s.Applied || s.AppliedAt != nil || s.Unknown || s.ChecksumMismatch {
			t.Errorf("on an empty schema %s = %+v, want pending", s.File, s)
		}
	}

	if _, err := migrate.Up(ctx, pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	after, err := migrate.Status(ctx, pool)
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if len(after) != len(migs) {
		t.Fatalf("MigrationStatus listed %d migrations, want %d", len(after), len(migs))
	}
	for i, s := range after {
		if !s.Applied || s.AppliedAt == nil || s.File != migs[i].File || s.ChecksumMismatch {
			t.Errorf("after Migrate %s = %+v, want applied", migs[i].File, s)
		}
	}
}

func TestMigrateRefusesAnEditedMigration(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	d := testenv.NewDatabase(t)
	// Same as editing 0001_initial.sql after it was applied.
	if _, err := d.Pool.Exec(ctx, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	_, err := migrate.Up(ctx, d.Pool)
	requireContains(t, err, "0001_initial.sql", "changed after it was applied")

	states, err := migrate.Status(ctx, d.Pool)
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if !states[0].ChecksumMismatch {
		t.Errorf("MigrationStatus does not flag the edited migration: %+v", states[0])
	}
}

func TestMigrateRefusesAVersionItDoesNotKnow(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	d := testenv.NewDatabase(t)
	// As if a newer referflow had migrated this database.
	if _, err := d.Pool.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'from_the_future', 'x')"); err != nil {
		t.Fatal(err)
	}
	_, err := migrate.Up(ctx, d.Pool)
	requireContains(t, err, "9999_from_the_future.sql", "does not know")

	states, err := migrate.Status(ctx, d.Pool)
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if last := states[len(states)-1]; !last.Unknown || last.Version != 9999 {
		t.Errorf("MigrationStatus does not list the unknown version last: %+v", last)
	}
}

// An api and a worker starting together on a fresh database: both succeed
// and every migration is applied exactly once.
func TestConcurrentMigrateAppliesOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	d := testenv.NewDatabase(t)
	schemaURL, _ := emptySchema(t, d)
	migs, _ := migrate.All()

	const processes = 4
	applied := make([][]migrate.Applied, processes)
	errs := make([]error, processes)
	var wg sync.WaitGroup
	for i := range processes {
		pool := openPool(t, schemaURL)
		wg.Go(func() {
			applied[i], errs[i] = migrate.Up(ctx, pool)
		})
	}
	wg.Wait()
	total := 0
	for i := range processes {
		if errs[i] != nil {
			t.Errorf("Migrate #%d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if total != len(migs) {
		t.Errorf("concurrent Migrate calls applied %d migrations in all, want %d", total, len(migs))
	}
	var recorded int
	if err := openPool(t, schemaURL).QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if recorded != len(migs) {
		t.Errorf("schema_migrations has %d rows, want %d", recorded, len(migs))
	}
}

func TestMigrateWithoutASchemaSaysSo(t *testing.T) {
	t.Parallel()
	d := testenv.NewDatabase(t)
	pool := openPool(t, urlWithSearchPath(t, d.URL, d.Schema+"_missing"))
	_, err := migrate.Up(testContext(t), pool)
	requireContains(t, err, "no schema selected", d.Schema+"_missing")
}
