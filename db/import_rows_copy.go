package db

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ImportRowsCopy streams an upload's records into import_rows with COPY
// (import_id, row_number, fields, problem), reading them from src one at a
// time: a file of a million rows is never held in memory. Written by hand
// because sqlc's :copyfrom takes the rows as a slice.
func (q *Queries) ImportRowsCopy(ctx context.Context, src pgx.CopyFromSource) (int64, error) {
	return q.db.CopyFrom(ctx, pgx.Identifier{"import_rows"}, []string{"import_id", "row_number", "fields", "problem"}, src)
}
