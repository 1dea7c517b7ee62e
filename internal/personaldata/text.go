// Package personaldata keeps a person's personal data readable in Temporal's
// histories only while referflow holds that person's key.
//
// A value that crosses Temporal (a workflow's input, an activity's result, a
// signal, a query's answer) carries personal data in Text fields. Text
// marshals to a marker object; the payload codec (Codec) replaces each
// marker with the value encrypted under its person's own AES-256 key, which
// the Keyring keeps in Postgres sealed with REFERFLOW_ENCRYPTION_KEY. Erasing
// a person (Keyring.Forget) deletes their key and leaves a tombstone: every
// history that holds their data now holds ciphertext nobody can open, and
// nothing about them is ever sealed again. A workflow replaying such a
// history reads the field as erased (Text.Erased).
//
// The JSON forms of a Text field, inside a payload:
//
//	{"$personal":{"p":"ann@example.com","v":"Ann"}}   before the codec (in memory only)
//	{"$personal":{"k":"<subject>","c":"<base64>"}}    sealed: what Temporal stores
//	{"$personal":{"k":"<subject>","erased":true}}     erased, or sealed without the key
//
// and a plain JSON string, as histories written before Text existed hold.
// The subject is a keyed hash of the person's normalized email, never the
// email. The operator's codec server (referflow codec-server) runs the same
// Codec, so the Temporal Web UI shows the values to whoever holds the keys.
package personaldata

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/referflow/referflow/internal/referral"
)

// marker is the one key of a Text's JSON object.
const marker = "$personal"

// Text is one piece of a person's personal data (their email, their name)
// inside a value Temporal stores. Person is whose it is: the person's email,
// which picks the key that seals it.
type Text struct {
	Person string
	Value  string
	// Erased is set when the value was read from a history after its person
	// was erased (or without the codec, which holds the keys): Value and
	// Person are empty.
	Erased bool
	// subject and sealed keep an unreadable value as it was, so writing it
	// again (a continue-as-new, a query's answer) keeps it unreadable
	// rather than turning it into an empty plain value.
	subject string
	sealed  string
}

// Email is a person's email as personal data of that person.
func Email(email string) Text { return Text{Person: email, Value: email} }

// Of is a value (a name, a phone number) of the person with that email.
func Of(personEmail, value string) Text { return Text{Person: personEmail, Value: value} }

// String is the value, or "" when it was erased.
func (t Text) String() string { return t.Value }

// IsZero reports a Text with nothing in it (for `json:",omitzero"`).
func (t Text) IsZero() bool { return t == Text{} }

// wire is a marker object's content, in all three forms.
type wire struct {
	Person string `json:"p,omitempty"`
	Value  string `json:"v,omitempty"`
	// JSON is a struct's personal fields (MarshalFields), sealed as one.
	JSON    json.RawMessage `json:"j,omitempty"`
	Subject string          `json:"k,omitempty"`
	Sealed  string          `json:"c,omitempty"`
	Erased  bool            `json:"erased,omitempty"`
}

// MarshalJSON writes the marker object the codec seals; a Text read back
// erased or sealed is written as it was read.
func (t Text) MarshalJSON() ([]byte, error) {
	var w wire
	switch {
	case t.sealed != "":
		w = wire{Subject: t.subject, Sealed: t.sealed}
	case t.Erased:
		w = wire{Subject: t.subject, Erased: true}
	case t.Person == "" && t.Value == "":
		return []byte(`""`), nil
	default:
		w = wire{Person: t.person(), Value: t.Value}
	}
	return json.Marshal(map[string]wire{marker: w})
}

// person is whose key seals the value: Person, normalized as referflow
// compares emails (so "Ann+x@Example.com" and "ann@example.com" are one
// person, as they are one lead).
func (t Text) person() string { return referral.NormalizeEmail(t.Person) }

// UnmarshalJSON reads any of the forms in the package doc.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		// A history from before Text: the value was kept as it is, and only
		// an email names its own person.
		*t = Text{Value: s}
		if bytes.IndexByte(b, '@') >= 0 {
			t.Person = s
		}
		return nil
	}
	if string(b) == "null" {
		*t = Text{}
		return nil
	}
	var m map[string]wire
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("personal data: %w", err)
	}
	w, ok := m[marker]
	if !ok || len(m) != 1 {
		return fmt.Errorf("personal data: want a string or a %q object", marker)
	}
	switch {
	case w.Sealed != "":
		*t = Text{Erased: true, subject: w.Subject, sealed: w.Sealed}
	case w.Erased:
		*t = Text{Erased: true, subject: w.Subject}
	default:
		*t = Text{Person: w.Person, Value: w.Value}
	}
	return nil
}
