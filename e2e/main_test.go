package e2e_test

import (
	"os"
	"testing"

	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/workflows"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.WithSearchAttributes(workflows.SearchAttributes)))
}
