package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/wsd-dev/wsd/internal/testserver"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/upgrade"
	"github.com/wsd-dev/wsd/wsconn"
)

// The wsload binary against a server that corrupts and reorders echoes:
// it counts the wrong echoes and exits 1.
func TestBinaryExits1OnWrongEchoes(t *testing.T) {
	s, err := wsconn.New(wsconn.Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.NoError(t, s.Start(wsconn.Routes{Upgrade: func(*wsconn.Conn, *upgrade.Request) (wsconn.Handler, *upgrade.Error) {
		return &testserver.Corrupter{}, nil
	}}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	bin := filepath.Join(t.TempDir(), "wsload")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // kills the process (by its PID) if it hangs
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-url", "ws://"+s.Addr().String()+"/x", "-c", "3", "-msgs", "10", "-window", "4", "-json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "wsload exited 0 (or did not run: %v); stderr %s", err, stderr.String())
	assert.Equal(t, exitFailures, exit.ExitCode(), "stderr %s", stderr.String())
	var res result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), "output %q", stdout.String())
	require.NotNil(t, res.Echo)
	assert.Equal(t, int64(30), res.Echo.Received)
	assert.Equal(t, int64(9), res.Echo.Mismatched, "3 wrong echoes per connection")
	assert.NotEmpty(t, res.Echo.FirstMismatch)
	assert.Zero(t, res.Stats.Failed(), "the connections themselves were fine: %v", res.Stats.Errors)
}
