package personaldata

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// Codec is the Temporal payload codec that seals and opens Text fields
// (see the package doc). Payloads without a Text field pass through as they
// are, so histories written before it, and every payload that holds no
// personal data, read the same with or without it.
type Codec struct {
	Keys *Keyring
}

var _ converter.PayloadCodec = (*Codec)(nil)

// DataConverter is Temporal's default data converter with the codec: every
// client and worker of referflow uses it. Workflow code converts payloads
// in its own goroutine, and the codec may read a key from Postgres: that
// wait is not a deadlock, so the SDK's detector (which gives up on a
// workflow task whose goroutine runs for a second) is paused meanwhile.
func DataConverter(keys *Keyring) converter.DataConverter {
	return workflow.DataConverterWithoutDeadlockDetection(
		converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), &Codec{Keys: keys}))
}

// codecTimeout bounds the key lookups of one Encode or Decode (the SDK gives
// the codec no context).
const codecTimeout = 10 * time.Second

var markerBytes = []byte(`"` + marker + `"`)

// Encode seals every Text's value under its person's key, making the key
// the first time; a person who was erased has the value dropped.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return c.each(payloads, c.seal)
}

// Decode opens every sealed value whose person still has a key; the others
// read as erased.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return c.each(payloads, c.open)
}

func (c *Codec) each(payloads []*commonpb.Payload, f func(context.Context, wire) (wire, error)) ([]*commonpb.Payload, error) {
	ctx, cancel := context.WithTimeout(context.Background(), codecTimeout)
	defer cancel()
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != converter.MetadataEncodingJSON || !bytes.Contains(p.GetData(), markerBytes) {
			out[i] = p
			continue
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(p.GetData()))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			// Not JSON after all: not ours to change.
			out[i] = p
			continue
		}
		v, err := walk(ctx, v, f)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{Metadata: p.GetMetadata(), Data: bytes.TrimSuffix(buf.Bytes(), []byte("\n"))}
	}
	return out, nil
}

// walk replaces each marker object in v by f's answer.
func walk(ctx context.Context, v any, f func(context.Context, wire) (wire, error)) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if inner, ok := x[marker].(map[string]any); ok && len(x) == 1 {
			w, ok := wireOf(inner)
			if !ok {
				return v, nil
			}
			w, err := f(ctx, w)
			if err != nil {
				return nil, err
			}
			return map[string]wire{marker: w}, nil
		}
		for key, e := range x {
			e, err := walk(ctx, e, f)
			if err != nil {
				return nil, err
			}
			x[key] = e
		}
	case []any:
		for i, e := range x {
			e, err := walk(ctx, e, f)
			if err != nil {
				return nil, err
			}
			x[i] = e
		}
	}
	return v, nil
}

func wireOf(m map[string]any) (wire, bool) {
	var w wire
	for key, e := range m {
		switch key {
		case "p", "v", "k", "c":
			s, ok := e.(string)
			if !ok {
				return w, false
			}
			switch key {
			case "p":
				w.Person = s
			case "v":
				w.Value = s
			case "k":
				w.Subject = s
			case "c":
				w.Sealed = s
			}
		case "j":
			raw, err := json.Marshal(e)
			if err != nil {
				return w, false
			}
			w.JSON = raw
		case "erased":
			b, ok := e.(bool)
			if !ok {
				return w, false
			}
			w.Erased = b
		default:
			return w, false
		}
	}
	return w, true
}

// seal turns a plain marker into a sealed one (or an erased one, for a
// person who was erased); sealed and erased markers stay as they are.
func (c *Codec) seal(ctx context.Context, w wire) (wire, error) {
	if w.Sealed != "" || w.Erased || w.Person == "" {
		if w.Person == "" && !w.Erased && w.Sealed == "" {
			// A value nobody owns cannot be sealed: keep nothing of it.
			return wire{Erased: true}, nil
		}
		return w, nil
	}
	subject, err := c.Keys.Subject(ctx, w.Person)
	if err != nil {
		return w, err
	}
	aead, err := c.Keys.key(ctx, subject, true)
	if err != nil {
		return w, err
	}
	if aead == nil {
		return wire{Subject: subject, Erased: true}, nil
	}
	plain, err := json.Marshal(wire{Person: w.Person, Value: w.Value, JSON: w.JSON})
	if err != nil {
		return w, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return w, err
	}
	sealed := aead.Seal(nonce, nonce, plain, []byte(subject))
	return wire{Subject: subject, Sealed: base64.RawStdEncoding.EncodeToString(sealed)}, nil
}

// open turns a sealed marker back into a plain one when its person's key
// is still there, and into an erased one when it is not.
func (c *Codec) open(ctx context.Context, w wire) (wire, error) {
	if w.Sealed == "" {
		return w, nil
	}
	aead, err := c.Keys.key(ctx, w.Subject, false)
	if err != nil {
		return w, err
	}
	if aead == nil {
		return wire{Subject: w.Subject, Erased: true}, nil
	}
	// A value that does not open (damaged, or not sealed by this install)
	// reads as erased: a workflow must not stop on it.
	raw, err := base64.RawStdEncoding.DecodeString(w.Sealed)
	if err != nil || len(raw) < aead.NonceSize() {
		return wire{Subject: w.Subject, Erased: true}, nil
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(w.Subject))
	var out wire
	if err != nil || json.Unmarshal(plain, &out) != nil {
		return wire{Subject: w.Subject, Erased: true}, nil
	}
	return out, nil
}
