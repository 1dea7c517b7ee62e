package personaldata_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/tokencrypt"
)

// lead is a value as a workflow would carry it: personal fields and others.
type lead struct {
	ReferralID string
	Email      personaldata.Text
	Name       personaldata.Text `json:",omitzero"`
	Amount     int64
	Notes      []personaldata.Text
}

func newKeyring(t *testing.T) (*personaldata.Keyring, *testenv.Database) {
	t.Helper()
	d := testenv.NewDatabase(t)
	box, err := tokencrypt.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	return personaldata.NewKeyring(d.Pool, box), d
}

func ann() lead {
	return lead{
		ReferralID: "r-1",
		Email:      personaldata.Email("Ann.Lee+promo@Example.com"),
		Name:       personaldata.Of("ann.lee@example.com", "Ann Lee"),
		Amount:     9007199254740993, // survives the codec exactly
		Notes:      []personaldata.Text{personaldata.Of("Ann.Lee@example.com", "called on Monday")},
	}
}

// What Temporal stores holds none of the person's data, and reads back whole
// through the codec.
func TestPersonalFieldsAreSealedInPayloads(t *testing.T) {
	keys, _ := newKeyring(t)
	dc := personaldata.DataConverter(keys)
	p, err := dc.ToPayload(ann())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Ann Lee", "Ann.Lee", "ann.lee", "example.com", "called on Monday"} {
		if bytes.Contains(p.GetData(), []byte(s)) {
			t.Fatalf("the stored payload holds %q: %s", s, p.GetData())
		}
	}
	if !bytes.Contains(p.GetData(), []byte("9007199254740993")) || !bytes.Contains(p.GetData(), []byte(`"r-1"`)) {
		t.Fatalf("the payload lost its other fields: %s", p.GetData())
	}
	var got lead
	if err := dc.FromPayload(p, &got); err != nil {
		t.Fatal(err)
	}
	if got.Email.Value != "Ann.Lee+promo@Example.com" || got.Name.Value != "Ann Lee" || got.Amount != 9007199254740993 ||
		len(got.Notes) != 1 || got.Notes[0].Value != "called on Monday" || got.Email.Erased {
		t.Fatalf("read back %+v", got)
	}
}

// After Forget, every value of that person already stored reads as erased,
// in this process and in a fresh one, and nothing new about them is sealed;
// another person's values still read.
func TestForgetMakesAPersonUnreadable(t *testing.T) {
	keys, d := newKeyring(t)
	dc := personaldata.DataConverter(keys)
	stored, err := dc.ToPayload(ann())
	if err != nil {
		t.Fatal(err)
	}
	bob, err := dc.ToPayload(lead{ReferralID: "r-2", Email: personaldata.Email("bob@example.com")})
	if err != nil {
		t.Fatal(err)
	}

	// Erased by the plain address; the +tag and case do not matter.
	if err := keys.Forget(context.Background(), d.Pool, "ann.lee@EXAMPLE.com"); err != nil {
		t.Fatal(err)
	}
	if err := keys.Forget(context.Background(), d.Pool, "ann.lee@example.com"); err != nil {
		t.Fatalf("erasing twice: %v", err)
	}

	box, _ := tokencrypt.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	for name, conv := range map[string]converter.DataConverter{"same process": dc, "another process": personaldata.DataConverter(personaldata.NewKeyring(d.Pool, box))} {
		var got lead
		if err := conv.FromPayload(stored, &got); err != nil {
			t.Fatal(err)
		}
		if !got.Email.Erased || got.Email.Value != "" || !got.Name.Erased || !got.Notes[0].Erased || got.Amount != 9007199254740993 || got.ReferralID != "r-1" {
			t.Fatalf("%s: read back after erasure: %+v", name, got)
		}
		// Written again (a continue-as-new), it stays erased.
		again, err := conv.ToPayload(got)
		if err != nil {
			t.Fatal(err)
		}
		var twice lead
		if err := conv.FromPayload(again, &twice); err != nil || !twice.Email.Erased {
			t.Fatalf("%s: written again after erasure: %+v %v", name, twice, err)
		}
		// A workflow still holding the email in memory cannot seal it anew.
		fresh, err := conv.ToPayload(ann())
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(fresh.GetData(), []byte(`"c"`)) {
			t.Fatalf("%s: an erased person's value was sealed again: %s", name, fresh.GetData())
		}
		var b lead
		if err := conv.FromPayload(bob, &b); err != nil || b.Email.Value != "bob@example.com" {
			t.Fatalf("%s: another person's value: %+v %v", name, b, err)
		}
	}
	var n int
	if err := d.Pool.QueryRow(context.Background(), "SELECT count(*) FROM person_keys WHERE sealed_key IS NULL AND erased_at IS NOT NULL").Scan(&n); err != nil || n != 1 {
		t.Fatalf("tombstones: %d %v", n, err)
	}
}

// A process without the codec (an old client, a tool) reads a sealed value
// as erased and, writing it again, keeps the sealed value, so the codec
// still opens it.
func TestWithoutTheCodecSealedValuesStaySealed(t *testing.T) {
	keys, _ := newKeyring(t)
	dc := personaldata.DataConverter(keys)
	p, err := dc.ToPayload(ann())
	if err != nil {
		t.Fatal(err)
	}
	plain := converter.GetDefaultDataConverter()
	var got lead
	if err := plain.FromPayload(p, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Email.Erased || got.Email.Value != "" {
		t.Fatalf("without the codec: %+v", got)
	}
	again, err := plain.ToPayload(got)
	if err != nil {
		t.Fatal(err)
	}
	var back lead
	if err := dc.FromPayload(again, &back); err != nil || back.Email.Value != "Ann.Lee+promo@Example.com" {
		t.Fatalf("sealed value after a round trip without the codec: %+v %v", back, err)
	}
}

// Payloads that hold no Text pass through byte for byte, and histories
// written before Text (a plain string) still read.
func TestPayloadsWithoutPersonalDataAreUntouched(t *testing.T) {
	keys, _ := newKeyring(t)
	dc := personaldata.DataConverter(keys)
	v := map[string]any{"ReferralID": "r-9", "Status": "pending", "Count": 3}
	want, _ := converter.GetDefaultDataConverter().ToPayload(v)
	got, err := dc.ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want.GetData(), got.GetData()) {
		t.Fatalf("changed: %s → %s", want.GetData(), got.GetData())
	}
	old, _ := converter.GetDefaultDataConverter().ToPayload(map[string]any{"ReferralID": "r-1", "Email": "old@example.com"})
	var l lead
	if err := dc.FromPayload(old, &l); err != nil || l.Email.Value != "old@example.com" || l.Email.Person != "old@example.com" {
		t.Fatalf("an old history's plain string: %+v %v", l, err)
	}
	// An empty Text stays an empty string, not a marker.
	p, _ := dc.ToPayload(lead{ReferralID: "r-3"})
	if strings.Contains(string(p.GetData()), "$personal") {
		t.Fatalf("an empty Text was marked: %s", p.GetData())
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(p.GetData(), &raw)
	if _, ok := raw["Name"]; ok {
		t.Fatalf("omitzero kept an empty Text: %s", p.GetData())
	}
}

// match is a struct with some fields of one person, sealed together.
type match struct {
	Kind  string
	Email string            `personal:""`
	Seen  map[string]string `json:",omitempty" personal:""`
}

func (m match) MarshalJSON() ([]byte, error) {
	type plain match
	return personaldata.MarshalFields(plain(m), m.Email)
}

func (m *match) UnmarshalJSON(b []byte) error {
	type plain match
	_, err := personaldata.UnmarshalFields(b, (*plain)(m))
	return err
}

// A struct's personal fields are sealed together; its other fields stay
// readable, so a workflow replaying a history after the person's erasure
// takes the same branches.
func TestPersonalStructFieldsAreSealedTogether(t *testing.T) {
	keys, d := newKeyring(t)
	dc := personaldata.DataConverter(keys)
	in := match{Kind: "direct", Email: "zoe@example.com", Seen: map[string]string{"contact 7": "zoe@example.com", "lastname": "Quill"}}
	p, err := dc.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.GetData(), []byte("zoe@")) || bytes.Contains(p.GetData(), []byte(`"Quill"`)) || !bytes.Contains(p.GetData(), []byte(`"direct"`)) {
		t.Fatalf("stored: %s", p.GetData())
	}
	var got match
	if err := dc.FromPayload(p, &got); err != nil || got.Email != in.Email || got.Seen["lastname"] != "Quill" || got.Kind != "direct" {
		t.Fatalf("read back %+v %v", got, err)
	}
	if err := keys.Forget(context.Background(), d.Pool, "ZOE@example.com"); err != nil {
		t.Fatal(err)
	}
	var erased match
	if err := dc.FromPayload(p, &erased); err != nil || erased.Email != "" || erased.Seen != nil || erased.Kind != "direct" {
		t.Fatalf("after erasure %+v %v", erased, err)
	}
	// Old histories (the fields in plain JSON) still read.
	var old match
	if err := dc.FromPayload(mustPayload(t, map[string]any{"Kind": "fuzzy", "Email": "x@example.com"}), &old); err != nil || old.Email != "x@example.com" || old.Kind != "fuzzy" {
		t.Fatalf("old history %+v %v", old, err)
	}
	// Without a person there is no one to erase: the fields stay plain.
	np, err := dc.ToPayload(match{Kind: "none", Seen: map[string]string{"deal 3": "Big deal"}})
	if err != nil || !bytes.Contains(np.GetData(), []byte("Big deal")) {
		t.Fatalf("no person: %s %v", np.GetData(), err)
	}
}

func mustPayload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The codec server shows an operator what the histories hold, over
// Temporal's remote-codec protocol, until the person is erased.
func TestCodecServerShowsSealedValuesUntilErasure(t *testing.T) {
	keys, d := newKeyring(t)
	dc := personaldata.DataConverter(keys)
	p, err := dc.ToPayload(ann())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(personaldata.CodecServer(&personaldata.Codec{Keys: keys}, []string{"http://localhost:8233"}))
	defer srv.Close()
	decode := func(origin string) (*http.Response, string) {
		body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out commonpb.Payloads
		raw, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return res, string(raw)
		}
		if err := protojson.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return res, string(out.GetPayloads()[0].GetData())
	}
	res, got := decode("http://localhost:8233")
	if !strings.Contains(got, "Ann Lee") || res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8233" {
		t.Fatalf("decoded for the Web UI: %d %s %v", res.StatusCode, got, res.Header)
	}
	if res, got := decode("https://evil.example"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("another origin: %d %s", res.StatusCode, got)
	}
	if err := keys.Forget(context.Background(), d.Pool, "ann.lee@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, got := decode(""); strings.Contains(got, "Ann Lee") || !strings.Contains(got, `"erased":true`) {
		t.Fatalf("decoded after erasure: %s", got)
	}
}
