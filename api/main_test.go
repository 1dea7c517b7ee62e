package api

import (
	"os"
	"testing"

	"github.com/referflow/referflow/internal/dev/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
