package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// Reading the admin API's JSON bodies, one way for every handler: a body
// limit, strict decoding, and text checks that no handler can forget. A
// client mistake is always a 4xx saying what is wrong, in the words of
// JSON — never a Go type name, never a 500 from Postgres refusing a NUL.

// MaxAdminBodyBytes caps an admin API request body: the largest campaign the
// settings' limits allow is well under it.
const MaxAdminBodyBytes = 256 << 10

// A field's limit is its `limit` tag on the input type, the one place it is
// declared: characters for a string, items for a list, entries for a map;
// `itemlimit` caps each string in a list or map. The choices: names, a
// lead's company and external IDs 200 characters, reasons 1,000, IDs and
// codes a request names 100, a fulfilment URL 2,048, a review decision's
// data 20 entries of at most 254 characters (an email address). The OpenAPI
// document states each as maxLength/maxItems (openapi_limits_test ties
// them).
// Every string anywhere in a body must be UTF-8 without NUL characters
// (Postgres refuses NUL in text, and invalid UTF-8 would be stored mangled).
const badText = "must be UTF-8 text without NUL characters"

// limitBody refuses a body over n bytes with 413, before or while it is read.
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > n {
				return bodyTooLarge(n)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, n)
			return next(c)
		}
	}
}

func bodyTooLarge(n int64) error {
	return NewError(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body is larger than %d bytes", n))
}

// decodeStrict reads a JSON body into v, refusing unknown fields (so that a
// typo in a setting's name is reported instead of silently ignored), and
// checks every string in it: UTF-8 without NUL, and the fields' limits.
func decodeStrict(c echo.Context, v any) error {
	return decodeStrictAt(c, v, "")
}

// decodeStrictAt is decodeStrict for a body that is the field root of a
// larger object (the settings of PUT /campaigns/{id}/settings): problems are
// named from root, as the object's own validation names them.
func decodeStrictAt(c echo.Context, v any, root string) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if !utf8.Valid(body) {
		// encoding/json would quietly turn invalid bytes into U+FFFD; as
		// NUL escapes they are found below, with the field they are in.
		body = []byte(strings.ToValidUTF8(string(body), `\u0000`))
	}
	if err := decodeJSON(body, v, root); err != nil {
		return err
	}
	if problems := textProblems(v, root); len(problems) > 0 {
		return invalid(problems)
	}
	return nil
}

func decodeJSON(body []byte, v any, root string) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return NewError(http.StatusBadRequest, "bad_request", "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return NewError(http.StatusBadRequest, "bad_request", "the body is not valid JSON (it ends too early)")
	case errors.As(err, &syntax):
		return NewError(http.StatusBadRequest, "bad_request", fmt.Sprintf("the body is not valid JSON (at byte %d)", syntax.Offset))
	case errors.As(err, &typeErr):
		field := join(root, typeErr.Field)
		if field == "" {
			return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: "the body must be " + jsonKind(typeErr.Type),
				Fields: map[string]string{"body": "must be " + jsonKind(typeErr.Type)}}
		}
		return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: "a field has the wrong type",
			Fields: map[string]string{field: "must be " + jsonKind(typeErr.Type)}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json names the field, not its path.
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: "unknown field " + field,
			Fields: map[string]string{field: "is not a field of this object"}}
	default:
		return NewError(http.StatusBadRequest, "bad_request", "the body could not be read as JSON")
	}
	// Anything but white space after the value is refused: dec.More alone
	// would let a stray closing bracket through ({"a":1}}).
	if _, err := dec.Token(); err != io.EOF {
		return NewError(http.StatusBadRequest, "bad_request", "the body holds more than one JSON value")
	}
	return nil
}

// jsonKind names what JSON value a Go type is decoded from, in JSON's words.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another kind of value"
}

// textProblems walks a decoded body and names, by JSON path, every string
// that is not UTF-8 text without NUL and every field over its limit.
func textProblems(v any, root string) map[string]string {
	p := map[string]string{}
	walkText(reflect.ValueOf(v), root, "", "", p)
	return p
}

func walkText(v reflect.Value, at, limit, itemLimit string, p map[string]string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkText(v.Elem(), at, limit, itemLimit, p)
		}
	case reflect.String:
		s := v.String()
		switch n, max := utf8.RuneCountInString(s), atoi(limit); {
		case strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s):
			p[at] = badText
		case max > 0 && n > max:
			p[at] = fmt.Sprintf("has %d characters; at most %d", n, max)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			walkText(v.Field(i), join(at, name), f.Tag.Get("limit"), f.Tag.Get("itemlimit"), p)
		}
	case reflect.Slice, reflect.Array:
		if max := atoi(limit); max > 0 && v.Len() > max {
			p[at] = fmt.Sprintf("has %d items; at most %d", v.Len(), max)
			return
		}
		for i := range v.Len() {
			walkText(v.Index(i), fmt.Sprintf("%s[%d]", at, i), itemLimit, "", p)
		}
	case reflect.Map:
		if max := atoi(limit); max > 0 && v.Len() > max {
			p[at] = fmt.Sprintf("has %d entries; at most %d", v.Len(), max)
			return
		}
		for _, k := range v.MapKeys() {
			key := fmt.Sprint(k.Interface())
			if strings.IndexByte(key, 0) >= 0 || !utf8.ValidString(key) {
				p[at] = "has a key that is not UTF-8 text without NUL characters"
				continue
			}
			walkText(v.MapIndex(k), join(at, key), itemLimit, "", p)
		}
	}
}

func join(at, name string) string {
	if at == "" || name == "" {
		return at + name
	}
	return at + "." + name
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// readBody reads the request's whole body, within the limit its route set:
// over it is 413 saying the limit, an unreadable one 400.
func readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request().Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, bodyTooLarge(tooLarge.Limit)
	case err != nil:
		return nil, NewError(http.StatusBadRequest, "bad_request", "the request body could not be read")
	}
	return body, nil
}
