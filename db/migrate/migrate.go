// Package migrate brings a database's schema up to date from the migrations
// embedded in the binary (migrations/NNNN_name.sql), so api and worker need
// no files on disk and refuse to run on a schema older than their code.
package migrate

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles holds the schema history. It is embedded so a single binary
// (api or worker) can bring any database up to date without files on disk.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationsTable records applied migrations. It lives in the schema that
// search_path selects, like every other table, so each test schema (and each
// deployment schema) has its own history.
const migrationsTable = "schema_migrations"

// migrationLockSeed namespaces the advisory lock key; the key itself is
// derived from the current schema so that migrating one schema never waits on
// another (parallel tests share one database).
const migrationLockSeed = 7130219 // arbitrary, fixed forever

// migrationNameRE is the file-name contract: NNNN_name.sql, lower-case name.
var migrationNameRE = regexp.MustCompile(`^([0-9]{4})_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$`)

// Migration is one embedded schema change.
type Migration struct {
	// Version is the NNNN prefix of the file name; migrations apply in
	// ascending version order.
	Version int
	// Name is the part of the file name between the version and ".sql".
	Name string
	// File is the file name, e.g. "0001_initial.sql"; errors name it so an
	// operator knows which file is concerned.
	File string
	// Checksum is the hex SHA-256 of the file; it detects a migration edited
	// after it was applied somewhere.
	Checksum string
	// SQL is the file's content.
	SQL string
}

// Applied reports a migration that Up has just applied.
type Applied struct {
	Version   int
	Name      string
	File      string
	Checksum  string
	AppliedAt time.Time
	// Duration is how long the migration's transaction took.
	Duration time.Duration
}

// State is the state of one migration in a database, as shown by
// `referflow migrate status`.
type State struct {
	Version  int
	Name     string
	File     string
	Checksum string
	// Applied reports whether the database has recorded this migration.
	Applied bool
	// AppliedAt is when it was applied; nil while pending.
	AppliedAt *time.Time
	// ChecksumMismatch is true when the recorded checksum differs from the
	// file: the file was edited after being applied and Up will refuse
	// to run.
	ChecksumMismatch bool
	// Unknown is true for a version recorded in the database that this
	// binary does not have (a newer binary migrated it); Up refuses to
	// run against it.
	Unknown bool
}

var (
	loadOnce   sync.Once
	loadedMigs []Migration
	loadErr    error
)

// All returns the embedded migrations in version order. A malformed
// file name or a duplicate version is an error, so a bad file is caught by
// the package's tests before it ships.
func All() ([]Migration, error) {
	loadOnce.Do(func() {
		loadedMigs, loadErr = parseMigrations(migrationFiles, "migrations")
	})
	if loadErr != nil {
		return nil, loadErr
	}
	return slices.Clone(loadedMigs), nil
}

// parseMigrations reads every file of dir in fsys as a migration.
func parseMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("db: read migrations: %w", err)
	}
	var migs []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() {
			return nil, fmt.Errorf("db: read migrations: %s is a directory; migrations are files named NNNN_name.sql", e.Name())
		}
		version, name, err := ParseFileName(e.Name())
		if err != nil {
			return nil, err
		}
		if other, ok := seen[version]; ok {
			return nil, fmt.Errorf("db: read migrations: %s and %s have the same version %04d", other, e.Name(), version)
		}
		seen[version] = e.Name()
		content, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("db: read migration %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(content)
		migs = append(migs, Migration{
			Version:  version,
			Name:     name,
			File:     e.Name(),
			Checksum: hex.EncodeToString(sum[:]),
			SQL:      string(content),
		})
	}
	slices.SortFunc(migs, func(a, b Migration) int { return a.Version - b.Version })
	return migs, nil
}

// ParseFileName splits "NNNN_name.sql" into its version and name.
// Anything else is refused: the version orders the schema history, so a file
// that does not carry one cannot be placed in it.
func ParseFileName(file string) (version int, name string, err error) {
	m := migrationNameRE.FindStringSubmatch(file)
	if m == nil {
		return 0, "", fmt.Errorf("db: migration file name %q is malformed: want NNNN_name.sql (four digits, then lower-case letters, digits and single underscores)", file)
	}
	version, _ = strconv.Atoi(m[1])
	if version == 0 {
		return 0, "", fmt.Errorf("db: migration file name %q is malformed: versions start at 0001", file)
	}
	return version, m[2], nil
}

// Up applies the pending embedded migrations to the schema selected by
// the pool's search_path, in version order, each in its own transaction, and
// returns the ones it applied (none when the database is up to date).
//
// It holds a PostgreSQL advisory lock (keyed by the current schema) for the
// whole run, so an api and a worker starting at the same time apply each
// migration exactly once: the second waits, then finds nothing to do.
//
// Before applying anything it refuses to run when an applied migration's
// file has changed (checksum mismatch) or when the database records a version
// this binary does not know (a newer binary migrated it): either way the
// schema is not the one this code was written against.
func Up(ctx context.Context, pool *pgxpool.Pool) (applied []Applied, err error) {
	migs, err := All()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: migrate: acquire connection: %w", err)
	}
	// The lock is held by this session; releasing a connection that might
	// still hold it would leak the lock into the pool, so such a connection
	// is closed instead of being returned.
	locked := false
	defer func() {
		if locked {
			unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, uerr := conn.Exec(unlockCtx, "SELECT pg_advisory_unlock(hashtextextended('referflow.migrate:' || current_schema(), $1))", migrationLockSeed); uerr != nil {
				_ = conn.Hijack().Close(unlockCtx)
				return
			}
		}
		conn.Release()
	}()

	if err := requireSchema(ctx, conn.Conn()); err != nil {
		return nil, fmt.Errorf("db: migrate: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended('referflow.migrate:' || current_schema(), $1))", migrationLockSeed); err != nil {
		return nil, fmt.Errorf("db: migrate: take advisory lock: %w", err)
	}
	locked = true

	recorded, exists, err := readApplied(ctx, conn.Conn())
	if err != nil {
		return nil, fmt.Errorf("db: migrate: %w", err)
	}
	if !exists {
		// Created only when missing, so an up-to-date database needs no
		// CREATE privilege from the role the services run as.
		if _, err := conn.Exec(ctx, `CREATE TABLE `+migrationsTable+` (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
			return nil, fmt.Errorf("db: migrate: create %s: %w", migrationsTable, err)
		}
	}
	if err := checkApplied(migs, recorded); err != nil {
		return nil, fmt.Errorf("db: migrate: %w", err)
	}

	for _, m := range migs {
		if _, ok := recorded[m.Version]; ok {
			continue
		}
		a, err := applyMigration(ctx, conn.Conn(), m)
		if err != nil {
			return applied, fmt.Errorf("db: migrate: apply %s: %w", m.File, err)
		}
		applied = append(applied, a)
	}
	return applied, nil
}

// applyMigration runs one migration and records it in the same transaction,
// so a migration is either fully applied and recorded or not at all.
func applyMigration(ctx context.Context, conn *pgx.Conn, m Migration) (Applied, error) {
	start := time.Now()
	var appliedAt time.Time
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// No arguments: pgx uses the simple protocol, which runs a file of
		// several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		return tx.QueryRow(ctx,
			`INSERT INTO `+migrationsTable+` (version, name, checksum) VALUES ($1, $2, $3) RETURNING applied_at`,
			m.Version, m.Name, m.Checksum,
		).Scan(&appliedAt)
	})
	if err != nil {
		return Applied{}, err
	}
	return Applied{
		Version:   m.Version,
		Name:      m.Name,
		File:      m.File,
		Checksum:  m.Checksum,
		AppliedAt: appliedAt,
		Duration:  time.Since(start),
	}, nil
}

// appliedRow is one row of schema_migrations.
type appliedRow struct {
	version   int
	name      string
	checksum  string
	appliedAt time.Time
}

// requireSchema fails clearly when search_path names no existing schema,
// instead of letting CREATE TABLE fail with "no schema has been selected".
func requireSchema(ctx context.Context, conn *pgx.Conn) error {
	var schema *string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("read current schema: %w", err)
	}
	if schema == nil {
		var searchPath string
		_ = conn.QueryRow(ctx, "SHOW search_path").Scan(&searchPath)
		return fmt.Errorf("no schema selected: search_path %q names no existing schema", searchPath)
	}
	return nil
}

// readApplied returns schema_migrations by version; exists is false (and the
// map empty) when the table does not exist yet, as in an empty database.
func readApplied(ctx context.Context, conn *pgx.Conn) (recorded map[int]appliedRow, exists bool, err error) {
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", migrationsTable).Scan(&exists); err != nil {
		return nil, false, fmt.Errorf("look for %s: %w", migrationsTable, err)
	}
	recorded = map[int]appliedRow{}
	if !exists {
		return recorded, false, nil
	}
	rows, err := conn.Query(ctx, "SELECT version, name, checksum, applied_at FROM "+migrationsTable+" ORDER BY version")
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", migrationsTable, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r appliedRow
		if err := rows.Scan(&r.version, &r.name, &r.checksum, &r.appliedAt); err != nil {
			return nil, false, fmt.Errorf("read %s: %w", migrationsTable, err)
		}
		recorded[r.version] = r
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read %s: %w", migrationsTable, err)
	}
	return recorded, true, nil
}

// checkApplied compares the database's history with the embedded files.
func checkApplied(migs []Migration, recorded map[int]appliedRow) error {
	known := make(map[int]Migration, len(migs))
	for _, m := range migs {
		known[m.Version] = m
	}
	var problems []string
	versions := make([]int, 0, len(recorded))
	for v := range recorded {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	for _, v := range versions {
		r := recorded[v]
		m, ok := known[v]
		if !ok {
			problems = append(problems, fmt.Sprintf(
				"the database has migration %04d_%s.sql applied, which this binary does not know (was it migrated by a newer version of referflow?)",
				v, r.name))
			continue
		}
		if r.checksum != m.Checksum {
			problems = append(problems, fmt.Sprintf(
				"migration %s was changed after it was applied on %s (checksum in database %s, file %s); add a new migration instead of editing an applied one",
				m.File, r.appliedAt.UTC().Format(time.RFC3339), short(r.checksum), short(m.Checksum)))
		}
	}
	if len(problems) > 0 {
		return errors.New("refusing to migrate: " + strings.Join(problems, "; "))
	}
	return nil
}

// short abbreviates a checksum for error messages.
func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// Status lists every embedded migration with whether the database
// (the schema selected by search_path) has applied it, followed by any
// version the database has that this binary does not know. It only reads,
// takes no lock, and works on an empty database (all pending).
func Status(ctx context.Context, pool *pgxpool.Pool) ([]State, error) {
	migs, err := All()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: migration status: acquire connection: %w", err)
	}
	defer conn.Release()
	recorded, _, err := readApplied(ctx, conn.Conn())
	if err != nil {
		return nil, fmt.Errorf("db: migration status: %w", err)
	}
	states := make([]State, 0, len(migs))
	known := map[int]bool{}
	for _, m := range migs {
		known[m.Version] = true
		s := State{Version: m.Version, Name: m.Name, File: m.File, Checksum: m.Checksum}
		if r, ok := recorded[m.Version]; ok {
			at := r.appliedAt
			s.Applied = true
			s.AppliedAt = &at
			s.ChecksumMismatch = r.checksum != m.Checksum
		}
		states = append(states, s)
	}
	var unknown []State
	for v, r := range recorded {
		if known[v] {
			continue
		}
		at := r.appliedAt
		unknown = append(unknown, State{
			Version: v, Name: r.name, File: fmt.Sprintf("%04d_%s.sql", v, r.name),
			Checksum: r.checksum, Applied: true, AppliedAt: &at, Unknown: true,
		})
	}
	slices.SortFunc(unknown, func(a, b State) int { return a.Version - b.Version })
	return append(states, unknown...), nil
}
