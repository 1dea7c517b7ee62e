package api

import (
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/referral"
)

// The admin UI's CSV import: the upload form on the members page posts the
// file here (importCSV, the JSON API's upload), and the import's page shows
// its progress and links its errors file.

// adminImportPath takes the upload. It is outside the /admin group, whose
// body limit is a form's: it has the upload's own (MaxImportBodyBytes), and
// the same session and CSRF check (requireAdminSession).
const adminImportPath = "/admin/imports"

func (s *Server) routeAdminImports(g *echo.Group) {
	s.echo.POST(adminImportPath, s.adminImport, s.requireAdminSession, limitBody(MaxImportBodyBytes))
	g.GET("/imports/:id", s.adminImportProgress)
	g.GET("/imports/:id/errors.csv", s.getImportErrors)
}

func (s *Server) adminImport(c echo.Context) error {
	camp, err := s.adminCampaignOf(c, adminFormValue(c, "campaign_id"))
	if err != nil {
		return err
	}
	if camp == nil {
		return s.renderMembers(c, http.StatusUnprocessableEntity, invalid(map[string]string{"campaign_id": "choose the campaign to import into"}), MemberInput{})
	}
	var file io.Closer
	defer func() {
		if file != nil {
			_ = file.Close()
		}
	}()
	v, err := s.importCSV(c, *camp, func() (importUpload, error) {
		fh, err := c.FormFile("file")
		if err != nil {
			return importUpload{}, invalid(map[string]string{"file": "is missing: choose the CSV file to import"})
		}
		f, err := fh.Open()
		if err != nil {
			return importUpload{}, uploadReadError(err)
		}
		file = f
		return importUpload{kind: adminFormValue(c, "kind"), fileName: fh.Filename, body: f}, nil
	})
	if err != nil {
		return s.renderMembers(c, statusOf(err), err, MemberInput{})
	}
	return s.redirectWithFlash(c, "/admin/imports/"+v.ID, "The file was uploaded: "+strconv.Itoa(int(v.RowsRead))+" rows to import.")
}

type importPage struct {
	AdminPage
	Import   ImportView
	Campaign string
	Running  bool
}

func (s *Server) adminImportProgress(c echo.Context) error {
	imp, err := s.importOfAdmin(c)
	if err != nil {
		return err
	}
	camp, err := s.queries().CampaignGetByID(c.Request().Context(), imp.CampaignID)
	if err != nil {
		return err
	}
	v := s.importView(imp)
	p := importPage{AdminPage: s.newAdminPage(c, "Import of "+string(v.Kind), navMembers), Import: v, Campaign: camp.Name,
		Running: v.Status == referral.ImportQueued || v.Status == referral.ImportRunning}
	return renderAdmin(c, http.StatusOK, "admin_import", &p)
}
