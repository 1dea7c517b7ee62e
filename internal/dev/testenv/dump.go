package testenv

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Finding is where a dump found a term: the table and the row as text.
type Finding struct {
	Table string
	Row   string
}

// FindText searches every table of the test's schema, each row as
// PostgreSQL writes it as text (SELECT t::text FROM <table> t), for each
// term, case-insensitively: what a privacy erasure must leave none of.
// bytea columns (webhook bodies) print as hex: each term is looked for in
// hex too, as written and in lower case.
func (d *Database) FindText(t testing.TB, terms ...string) []Finding {
	t.Helper()
	ctx := context.Background()
	rows, err := d.Pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`, d.Schema)
	if err != nil {
		t.Fatalf("testenv: list tables: %v", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("testenv: list tables: %v", err)
	}
	if len(tables) < 10 {
		t.Fatalf("testenv: only %d tables in schema %s", len(tables), d.Schema)
	}
	var search []string
	for _, term := range terms {
		search = append(search, term, hex.EncodeToString([]byte(term)), hex.EncodeToString([]byte(strings.ToLower(term))))
	}
	var out []Finding
	for _, table := range tables {
		id := pgx.Identifier{d.Schema, table}.Sanitize()
		rows, err := d.Pool.Query(ctx, "SELECT t::text FROM "+id+" t")
		if err != nil {
			t.Fatalf("testenv: dump %s: %v", table, err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("testenv: dump %s: %v", table, err)
		}
		for _, row := range texts {
			lower := strings.ToLower(row)
			for _, term := range search {
				if strings.Contains(lower, strings.ToLower(term)) {
					out = append(out, Finding{Table: table, Row: row})
					break
				}
			}
		}
	}
	return out
}
