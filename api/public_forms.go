package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/referral"
)

// What the public forms (the join page, the hosted lead form) share: their
// fields, how a field is checked and its message shown next to it, and how
// a post the door refuses (CSRF, rate limits; public_guard.go) is answered.
// The forms work without JavaScript: each post is answered with a page,
// after a success by a redirect to a result page (POST/redirect/GET).

// maxPublicFormBytes bounds a public form's body: the longest form (the
// hosted one, a note of 2,000 characters) is well under it.
const maxPublicFormBytes = 64 << 10

// formField is one input of a public form, as the template public_field
// draws it: its label, its value as sent, and what to fix in it.
type formField struct {
	Name, Label  string
	Type         string // text, email, tel or textarea
	Autocomplete string
	Hint         string
	Required     bool
	// Missing is what a required field left empty says (default: "Enter
	// your <label>."), for fields about someone else.
	Missing   string
	MaxLength int
	Value     string
	Error     string
}

// publicForm is what every public form page carries: its fields, the
// door's hidden fields, and a message above the form when the post was
// refused as a whole.
type publicForm struct {
	Action    string
	CSRF      string
	Fields    []formField
	FormError string
}

// CSRFField and HoneypotField name the door's fields for the templates.
func (publicForm) CSRFField() string     { return CSRFField }
func (publicForm) HoneypotField() string { return HoneypotField }

// value is the value of the named field.
func (f *publicForm) value(name string) string {
	for _, fl := range f.Fields {
		if fl.Name == name {
			return fl.Value
		}
	}
	return ""
}

// read takes the fields' values from the post and checks them; it answers
// whether they are all right (when not, each field's message is set, and
// the form's says how many to fix).
func (f *publicForm) read(c echo.Context) bool {
	wrong := 0
	for i := range f.Fields {
		fl := &f.Fields[i]
		fl.Value = strings.TrimSpace(c.FormValue(fl.Name))
		fl.Error = checkField(*fl)
		if fl.Error != "" {
			wrong++
		}
	}
	switch {
	case wrong == 1:
		f.FormError = "Nothing was sent yet: one field below needs fixing."
	case wrong > 1:
		f.FormError = "Nothing was sent yet: " + strconv.Itoa(wrong) + " fields below need fixing."
	}
	return wrong == 0
}

// checkField says what to fix in a field's value, or "".
func checkField(fl formField) string {
	v := fl.Value
	if v == "" {
		switch {
		case fl.Required && fl.Missing != "":
			return fl.Missing
		case fl.Required:
			return "Enter your " + strings.ToLower(fl.Label) + "."
		}
		return ""
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool {
		return r == 0 || (unicode.IsControl(r) && (fl.Type != "textarea" || (r != '\n' && r != '\r' && r != '\t')))
	}) {
		return "Remove the invisible control characters from this field."
	}
	if n := utf8.RuneCountInString(v); fl.MaxLength > 0 && n > fl.MaxLength {
		return "Use at most " + strconv.Itoa(fl.MaxLength) + " characters (this has " + strconv.Itoa(n) + ")."
	}
	switch fl.Type {
	case "email":
		if err := referral.CheckEmail(v); err != nil {
			return "Enter an email address like name@example.com."
		}
	case "tel":
		digits := 0
		for _, r := range v {
			switch {
			case r >= '0' && r <= '9':
				digits++
			case strings.ContainsRune(" +-().", r):
			default:
				return "Enter a phone number with digits, spaces and + - ( ) only, like +1 555 010 0199."
			}
		}
		if digits < 5 {
			return "Enter a phone number with at least 5 digits, like +1 555 010 0199."
		}
	}
	return ""
}

// Fields of the public forms: the names the tracking script's forms use too.
func emailField() formField {
	return formField{Name: "email", Label: "Email address", Type: "email", Autocomplete: "email", Required: true, MaxLength: referral.MaxEmailLength}
}

func firstNameField() formField {
	return formField{Name: "first_name", Label: "First name", Type: "text", Autocomplete: "given-name", Required: true, MaxLength: 200}
}

func lastNameField() formField {
	return formField{Name: "last_name", Label: "Last name", Type: "text", Autocomplete: "family-name", MaxLength: 200}
}

// formRefusal is a post refused before its fields mattered: the form is
// shown again, its values kept, with the message above it.
type formRefusal struct {
	status     int
	message    string
	retryAfter time.Duration
}

// guardPost checks a public form's post at path: its CSRF token (403), then
// the visitor's rate limit (429). nil lets it through.
func (s *Server) guardPost(c echo.Context, path string) *formRefusal {
	if err := s.checkCSRF(c, path); err != nil {
		return &formRefusal{status: http.StatusForbidden,
			message: "This form has expired or did not come from this site, so nothing was sent. Check your details below and send the form again."}
	}
	if err := s.limitVisitor(s.visitor(c)); err != nil {
		return rateLimitedRefusal(err, "from your connection")
	}
	return nil
}

// rateLimitedRefusal is a rate limit as the forms show it: when to try again.
func rateLimitedRefusal(err error, whose string) *formRefusal {
	wait := time.Minute
	if rl, ok := err.(*rateLimitedError); ok {
		wait = rl.retryAfter
	}
	secs := retryAfterSeconds(wait)
	when := strconv.Itoa(secs) + " seconds"
	if secs >= 120 {
		when = strconv.Itoa((secs+59)/60) + " minutes"
	}
	at := time.Now().Add(time.Duration(secs) * time.Second).UTC().Format("15:04 UTC")
	return &formRefusal{status: http.StatusTooManyRequests, retryAfter: wait,
		message: "Too many forms were sent " + whose + " in a short time, so this one was not sent. Please wait " + when + " (until about " + at + ") and send it again."}
}

// refuse shows the form again after a refusal: the status, Retry-After for
// a rate limit, and a fresh CSRF token.
func (s *Server) refuse(c echo.Context, r *formRefusal, form *publicForm, path string) {
	if r.retryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(r.retryAfter)))
	}
	form.FormError = r.message
	form.CSRF = s.csrfToken(c, path)
}
