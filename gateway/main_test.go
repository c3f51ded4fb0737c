package gateway

import (
	"log/slog"
	"os"
	"testing"

	"github.com/bulwark-go/bulwark/fleet"
)

func TestMain(m *testing.M) {
	fleet.SetRedisLogger(slog.New(slog.DiscardHandler)) // tests kill Redis on purpose
	os.Exit(m.Run())
}
