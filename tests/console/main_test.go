package console_test

import (
	"os"
	"testing"

	"github.com/distcron/distcron/internal/admintest"
)

func TestMain(m *testing.M) { os.Exit(admintest.Main(m)) }
