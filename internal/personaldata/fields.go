package personaldata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// sealedKey is where MarshalFields puts a struct's personal fields.
const sealedKey = "$sealed"

// MarshalFields is a MarshalJSON for a struct whose fields tagged
// `personal:""` are one person's data: they are written together inside a
// marker the codec seals under person's key, the other fields as usual. v
// is the struct's value as a type without the MarshalJSON method (the usual
// `type plain T` alias). Without a person the fields are written as usual:
// there is no one to erase.
//
//	func (o Lead) MarshalJSON() ([]byte, error) { type plain Lead; return personaldata.MarshalFields(plain(o), o.Email) }
func MarshalFields(v any, person string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || person == "" {
		return b, err
	}
	names := personalFields(reflect.TypeOf(v))
	if len(names) == 0 {
		return b, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	personal := map[string]json.RawMessage{}
	for _, n := range names {
		if raw, ok := m[n]; ok {
			personal[n] = raw
			delete(m, n)
		}
	}
	if len(personal) == 0 {
		return b, nil
	}
	inner, err := json.Marshal(personal)
	if err != nil {
		return nil, err
	}
	sealed, err := json.Marshal(map[string]wire{marker: {Person: Text{Person: person}.person(), JSON: inner}})
	if err != nil {
		return nil, err
	}
	m[sealedKey] = sealed
	return json.Marshal(m)
}

// UnmarshalFields is the UnmarshalJSON of MarshalFields' structs (v points
// to the plain type): the personal fields come back when the codec opened
// them, and stay zero when their person was erased (erased is then true).
// JSON written before the fields were sealed reads as it always did.
func UnmarshalFields(b []byte, v any) (erased bool, err error) {
	if !bytes.Contains(b, []byte(`"`+sealedKey+`"`)) {
		return false, json.Unmarshal(b, v)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return false, err
	}
	var outer map[string]wire
	if err := json.Unmarshal(m[sealedKey], &outer); err != nil {
		return false, fmt.Errorf("personal data: %w", err)
	}
	delete(m, sealedKey)
	w, ok := outer[marker]
	if !ok {
		return false, fmt.Errorf("personal data: %s without a %q object", sealedKey, marker)
	}
	if w.JSON != nil && w.Sealed == "" && !w.Erased {
		var personal map[string]json.RawMessage
		if err := json.Unmarshal(w.JSON, &personal); err != nil {
			return false, fmt.Errorf("personal data: %w", err)
		}
		for k, raw := range personal {
			m[k] = raw
		}
	} else {
		erased = true
	}
	all, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	return erased, json.Unmarshal(all, v)
}

var personalFieldsOf sync.Map // reflect.Type → []string

// personalFields are the JSON names of t's fields tagged personal.
func personalFields(t reflect.Type) []string {
	if names, ok := personalFieldsOf.Load(t); ok {
		return names.([]string)
	}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if _, ok := f.Tag.Lookup("personal"); !ok {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	personalFieldsOf.Store(t, names)
	return names
}
