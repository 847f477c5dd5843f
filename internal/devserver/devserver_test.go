package devserver_test

import (
	"slices"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/internal/devserver"
)

func TestStartDevArgs(t *testing.T) {
	for _, tt := range []struct {
		name, uiPort string
		want         []string
	}{
		{"with the Web UI on its port", "8233", []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", "7233", "--ui-port", "8233", "--db-filename", "t.db", "--log-level", "warn"}},
		{"headless without a UI port", "", []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", "7233", "--headless", "--db-filename", "t.db", "--log-level", "warn"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := devserver.StartDevArgs("127.0.0.1:7233", tt.uiPort, "t.db")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := devserver.StartDevArgs("no-port", "", "t.db"); err == nil {
		t.Error("an address without a port: want an error")
	}
}
