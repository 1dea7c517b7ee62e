package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/workflows"
)

// CSV imports of members and referrals: the upload is streamed into
// Postgres (COPY into import_rows, one row a record, in constant memory),
// then the import's workflow (import/<id>) adds the rows in batches; its
// progress is read here, and its bad rows downloaded as CSV.

// MaxImportBodyBytes caps a CSV upload: a file of a million members is
// about 60 to 80 MB. It replaces the admin API's cap (MaxAdminBodyBytes)
// and the server's (MaxBodyBytes) on this route only; the upload is
// streamed, so the cap bounds the database's staging, not memory.
const MaxImportBodyBytes = 256 << 20

// importPath is the upload's route, exempt from the server-wide body cap.
const importPath = "/api/v1/campaigns/:id/imports"

// ImportView is an import as the admin API shows it.
type ImportView struct {
	ID            string                `json:"id"`
	CampaignID    string                `json:"campaign_id"`
	Kind          referral.ImportKind   `json:"kind"`
	Status        referral.ImportStatus `json:"status"`
	FileName      string                `json:"file_name,omitempty"`
	RowsRead      int32                 `json:"rows_read"`
	RowsProcessed int32                 `json:"rows_processed"`
	RowsAdded     int32                 `json:"rows_added"`
	RowsSkipped   int32                 `json:"rows_skipped"`
	RowsFailed    int32                 `json:"rows_failed"`
	// WorkflowsStarted counts the imported referrals whose workflow the
	// import started (referrals imports).
	WorkflowsStarted int32  `json:"workflows_started"`
	FailureReason    string `json:"failure_reason,omitempty"`
	// IgnoredColumns are the header names the import did not know (on the
	// upload's answer).
	IgnoredColumns []string   `json:"ignored_columns,omitempty"`
	CreatedBy      string     `json:"created_by,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	ErrorsURL      string     `json:"errors_url"`
	WorkflowID     string     `json:"workflow_id"`
	WorkflowURL    string     `json:"workflow_url,omitempty"`
}

func (s *Server) importView(imp db.Import) ImportView {
	v := ImportView{
		ID: imp.ID.String(), CampaignID: imp.CampaignID.String(), Kind: referral.ImportKind(imp.Kind),
		Status: referral.ImportStatus(imp.Status), FileName: deref(imp.FileName),
		RowsRead: imp.RowsRead, RowsProcessed: imp.RowsProcessed, RowsAdded: imp.RowsAdded,
		RowsSkipped: imp.RowsSkipped, RowsFailed: imp.RowsFailed, WorkflowsStarted: imp.WorkflowsStarted,
		FailureReason: deref(imp.FailureReason), CreatedAt: imp.CreatedAt, StartedAt: imp.StartedAt, FinishedAt: imp.FinishedAt,
		ErrorsURL:  "/api/v1/imports/" + imp.ID.String() + "/errors.csv",
		WorkflowID: workflows.CSVImportWorkflowID(imp.ID.String()),
	}
	v.WorkflowURL = s.workflowURL(v.WorkflowID)
	if imp.CreatedBy != nil {
		v.CreatedBy = imp.CreatedBy.String()
	}
	return v
}

func (s *Server) routeImports(admin *echo.Group) {
	s.echo.POST(importPath, s.createImport, s.requireAdmin, limitBody(MaxImportBodyBytes))
	admin.GET("/campaigns/:id/imports", s.listImports)
	admin.GET("/imports/:id", s.getImport)
	admin.GET("/imports/:id/errors.csv", s.getImportErrors)
}

// skipServerBodyLimit exempts the CSV upload from the server-wide body cap;
// its own (MaxImportBodyBytes) applies instead.
func skipServerBodyLimit(c echo.Context) bool {
	return c.Request().Method == http.MethodPost && (c.Path() == importPath || c.Path() == adminImportPath)
}

// importUpload is what a request uploads: the kind, the file's name and
// its content.
type importUpload struct {
	kind     string
	fileName string
	body     io.Reader
}

// readImportUpload finds the CSV in the request: the body itself (text/csv)
// or the file part of a multipart form, read as a stream. The kind comes
// from the query, or a form field before the file.
func readImportUpload(c echo.Context) (importUpload, error) {
	r := c.Request()
	up := importUpload{kind: c.QueryParam("kind")}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if err != nil {
		mediaType = ""
	}
	switch mediaType {
	case "text/csv", "application/csv", "text/plain":
		up.body = r.Body
		return up, nil
	case "multipart/form-data":
	default:
		return up, NewError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the CSV file as the body (Content-Type: text/csv) or as the field file of a multipart/form-data upload")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return up, NewError(http.StatusBadRequest, "bad_request", "the multipart body cannot be read: "+err.Error())
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return up, invalid(map[string]string{"file": "is missing: upload the CSV as the form field file"})
		}
		if err != nil {
			return up, uploadReadError(err)
		}
		switch part.FormName() {
		case "kind":
			v, err := io.ReadAll(io.LimitReader(part, 100))
			if err != nil {
				return up, uploadReadError(err)
			}
			if up.kind == "" {
				up.kind = string(v)
			}
		case "file":
			up.fileName = part.FileName()
			up.body = part
			return up, nil
		}
	}
}

func uploadReadError(err error) error {
	if errors.Is(err, errLineTooLong) {
		return invalid(map[string]string{"file": err.Error()})
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return bodyTooLarge(tooLarge.Limit)
	}
	return NewError(http.StatusBadRequest, "bad_request", "the upload could not be read to its end: "+err.Error())
}

func (s *Server) createImport(c echo.Context) error {
	camp, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	v, err := s.importCSV(c, camp, func() (importUpload, error) { return readImportUpload(c) })
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/imports/"+v.ID)
	return c.JSON(http.StatusAccepted, v)
}

// importCSV checks the campaign takes new members or referrals, reads the
// upload (read), stores its rows and starts the import's workflow: the JSON
// API's upload and the admin UI's.
func (s *Server) importCSV(c echo.Context, camp db.Campaign, read func() (importUpload, error)) (ImportView, error) {
	if err := campaign.CheckTakesNew(campaign.Status(camp.Status)); err != nil {
		var notActive *campaign.NotActiveError
		if errors.As(err, &notActive) {
			return ImportView{}, notActiveAnswer(notActive)
		}
		return ImportView{}, err
	}
	up, err := read()
	if err != nil {
		return ImportView{}, err
	}
	kind, err := referral.ParseImportKind(up.kind)
	if err != nil {
		return ImportView{}, invalid(map[string]string{"kind": "must be members or referrals (query parameter kind, or a form field before the file)"})
	}
	records := csv.NewReader(&lineLimiter{r: up.body})
	records.FieldsPerRecord = -1
	records.ReuseRecord = true
	header, err := records.Read()
	switch {
	case errors.Is(err, io.EOF):
		return ImportView{}, invalid(map[string]string{"file": "is empty: the first line must be a header naming the columns"})
	case err != nil && !isParseError(err):
		return ImportView{}, uploadReadError(err)
	case err != nil:
		return ImportView{}, invalid(map[string]string{"header": "cannot be read as CSV: " + err.Error()})
	}
	header = append([]string(nil), header...)
	for _, h := range header {
		if !utf8.ValidString(h) || strings.ContainsRune(h, 0) {
			return ImportView{}, invalid(map[string]string{"header": "is not valid UTF-8 text: save the file as CSV UTF-8"})
		}
	}
	cols, err := referral.MapImportColumns(kind, header)
	var missing *referral.MissingHeaderError
	var dupHeader *referral.DuplicateHeaderError
	switch {
	case errors.As(err, &missing):
		return ImportView{}, &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: missing.Error(),
			Fields: map[string]string{"header": "lacks the column " + missing.Missing}}
	case errors.As(err, &dupHeader):
		return ImportView{}, &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: dupHeader.Error(),
			Fields: map[string]string{"header": dupHeader.Error()}}
	case err != nil:
		return ImportView{}, err
	}
	ctx := c.Request().Context()
	admin := adminFrom(c)
	var fileName *string
	if up.fileName != "" {
		name := strings.ToValidUTF8(strings.ReplaceAll(up.fileName, "\x00", ""), "")
		if len(name) > 500 {
			name = name[:500]
		}
		fileName = &name
	}
	var imp db.Import
	err = pgx.BeginFunc(ctx, s.deps.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		var err error
		imp, err = q.ImportCreate(ctx, db.ImportCreateParams{
			WorkspaceID: camp.WorkspaceID, CampaignID: camp.ID, Kind: string(kind), Header: header,
			FileName: fileName, CreatedBy: &admin.ID,
		})
		if err != nil {
			return err
		}
		src := &csvRows{importID: imp.ID, records: records, width: len(header)}
		n, err := q.ImportRowsCopy(ctx, src)
		if src.err != nil {
			return src.err
		}
		if err != nil {
			return err
		}
		imp.RowsRead = int32(n)
		return q.ImportSetRowsRead(ctx, db.ImportSetRowsReadParams{ID: imp.ID, RowsRead: int32(n)})
	})
	if err != nil {
		return ImportView{}, err
	}
	summary := fmt.Sprintf("CSV import of %s into campaign %s (%d rows)", kind, camp.Name, imp.RowsRead)
	if _, err := workflows.StartCSVImportWorkflow(ctx, s.deps.Temporal, s.deps.TaskQueue, imp.ID.String(), summary); err != nil {
		reason := "its workflow could not start (Temporal unreachable); upload the file again: rows already added are skipped"
		if _, ferr := s.queries().ImportFinish(context.WithoutCancel(ctx), db.ImportFinishParams{ID: imp.ID, Status: string(referral.ImportFailed), FailureReason: &reason}); ferr != nil {
			s.deps.Logger.ErrorContext(ctx, "record an import that could not start", "import_id", imp.ID.String(), "error", ferr.Error())
		}
		_ = s.queries().ImportRowDeleteAll(context.WithoutCancel(ctx), imp.ID)
		return ImportView{}, NewError(http.StatusServiceUnavailable, "unavailable", "the import "+imp.ID.String()+" was uploaded but "+reason)
	}
	v := s.importView(imp)
	v.IgnoredColumns = cols.Ignored
	return v, nil
}

// maxImportLineBytes bounds a line of an upload, and so what the CSV reader
// holds at once: a record is read whole.
const maxImportLineBytes = 1 << 20

var errLineTooLong = fmt.Errorf("has a line longer than %d bytes: is it a CSV file?", maxImportLineBytes)

// lineLimiter fails a read once a line runs past maxImportLineBytes.
type lineLimiter struct {
	r    io.Reader
	line int // bytes since the last newline
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if i := bytes.LastIndexByte(p[:n], '\n'); i >= 0 {
		l.line = n - i - 1
	} else {
		l.line += n
	}
	if l.line > maxImportLineBytes {
		return n, errLineTooLong
	}
	return n, err
}

func isParseError(err error) bool {
	var pe *csv.ParseError
	return errors.As(err, &pe)
}

// csvRows feeds COPY the upload's records one at a time (pgx.CopyFromSource).
// A record that cannot be read as CSV, or holds text Postgres refuses, is
// kept as a row with its problem, reported by the import as a bad row; the
// upload itself failing (too large, cut short) ends the COPY with err.
type csvRows struct {
	importID uuid.UUID
	records  *csv.Reader
	width    int
	row      int32 // the current record's row number (the header is 1)
	values   []any
	err      error
}

func (r *csvRows) Next() bool {
	rec, err := r.records.Read()
	if errors.Is(err, io.EOF) {
		return false
	}
	r.row++
	row := r.row + 1
	if err != nil && !isParseError(err) {
		r.err = uploadReadError(err)
		return false
	}
	if err != nil {
		problem := "cannot be read as CSV: " + err.Error()
		r.values = []any{r.importID, row, nil, &problem}
		return true
	}
	fields := make([]string, len(rec))
	for i, f := range rec {
		if !utf8.ValidString(f) || strings.ContainsRune(f, 0) {
			problem := "a value holds a NUL character or is not valid UTF-8: save the file as CSV UTF-8"
			r.values = []any{r.importID, row, nil, &problem}
			return true
		}
		fields[i] = f
	}
	r.values = []any{r.importID, row, fields, nil}
	return true
}

func (r *csvRows) Values() ([]any, error) { return r.values, nil }

func (r *csvRows) Err() error { return r.err }

func (s *Server) importOfAdmin(c echo.Context) (db.Import, error) {
	notFound := NewError(http.StatusNotFound, "not_found", "no such import in your workspace")
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return db.Import{}, notFound
	}
	imp, err := s.queries().ImportGetByID(c.Request().Context(), id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && imp.WorkspaceID != adminFrom(c).WorkspaceID) {
		return db.Import{}, notFound
	}
	return imp, err
}

func (s *Server) getImport(c echo.Context) error {
	imp, err := s.importOfAdmin(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.importView(imp))
}

// importListLimit bounds the list: the newest imports of a campaign.
const importListLimit = 100

func (s *Server) listImports(c echo.Context) error {
	camp, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	rows, err := s.queries().ImportListByCampaign(c.Request().Context(), db.ImportListByCampaignParams{CampaignID: camp.ID, MaxResults: importListLimit})
	if err != nil {
		return err
	}
	views := make([]ImportView, 0, len(rows))
	for _, imp := range rows {
		views = append(views, s.importView(imp))
	}
	return c.JSON(http.StatusOK, map[string]any{"imports": views})
}

// getImportErrors streams an import's bad rows as CSV: row (the file's row
// number, the header being row 1), email, reason.
func (s *Server) getImportErrors(c echo.Context) error {
	imp, err := s.importOfAdmin(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	q := s.queries()
	page, err := q.ImportErrorListAfter(ctx, db.ImportErrorListAfterParams{ImportID: imp.ID, AfterRow: 0, MaxResults: 1000})
	if err != nil {
		return err
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="import-`+imp.ID.String()+`-errors.csv"`)
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	_ = w.Write([]string{"row", "email", "reason"})
	for len(page) > 0 {
		for _, e := range page {
			_ = w.Write([]string{strconv.Itoa(int(e.RowNumber)), spreadsheetSafe(deref(e.Email)), e.Reason})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return nil // the client went away
		}
		page, err = q.ImportErrorListAfter(ctx, db.ImportErrorListAfterParams{ImportID: imp.ID, AfterRow: page[len(page)-1].RowNumber, MaxResults: 1000})
		if err != nil {
			s.deps.Logger.ErrorContext(ctx, "list an import's bad rows", "import_id", imp.ID.String(), "error", err.Error())
			return nil // the answer has begun: it ends short
		}
	}
	w.Flush()
	return nil
}

// spreadsheetSafe keeps a value from the file from being read as a formula
// when the errors file is opened in a spreadsheet (CSV injection).
func spreadsheetSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
