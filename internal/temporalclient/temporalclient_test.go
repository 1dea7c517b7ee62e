package temporalclient_test

import (
	"context"
	"os"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/temporalclient"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// Every process registers at every start: the second and later calls must
// succeed without changing anything.
func TestRegisterSearchAttributesIsIdempotent(t *testing.T) {
	tc := testenv.NewTemporal(t)
	ctx := context.Background()
	want := map[string]enumspb.IndexedValueType{
		"ReferflowTestKeyword" + strings.ReplaceAll(tc.TaskQueue, "-", ""): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"ReferflowTestInt" + strings.ReplaceAll(tc.TaskQueue, "-", ""):     enumspb.INDEXED_VALUE_TYPE_INT,
	}
	for range 3 {
		if err := temporalclient.RegisterSearchAttributes(ctx, tc.Client, tc.Namespace, want); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := tc.Client.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: tc.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range want {
		if got := resp.GetCustomAttributes()[name]; got != typ {
			t.Errorf("%s registered as %s, want %s", name, got, typ)
		}
	}
}

func TestRegisterAddsMissingAttributesAndRefusesAWrongType(t *testing.T) {
	tc := testenv.NewTemporal(t)
	ctx := context.Background()
	fresh := "ReferflowTestAttr" + strings.ReplaceAll(tc.TaskQueue, "-", "")
	want := map[string]enumspb.IndexedValueType{fresh: enumspb.INDEXED_VALUE_TYPE_KEYWORD}
	if err := temporalclient.RegisterSearchAttributes(ctx, tc.Client, tc.Namespace, want); err != nil {
		t.Fatal(err)
	}
	resp, err := tc.Client.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: tc.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetCustomAttributes()[fresh] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
		t.Fatalf("%s was not added", fresh)
	}
	err = temporalclient.RegisterSearchAttributes(ctx, tc.Client, tc.Namespace, map[string]enumspb.IndexedValueType{fresh: enumspb.INDEXED_VALUE_TYPE_INT})
	if err == nil || !strings.Contains(err.Error(), fresh) || !strings.Contains(err.Error(), "referflow needs") {
		t.Fatalf("wrong type: err = %v, want one naming the attribute and both types", err)
	}
}
