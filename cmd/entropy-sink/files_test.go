package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/packet"
)

// A state file that is a symbolic link (here dangling until the first
// start, as an administrator may lay it out) is written through: the
// link stays a link and the counters go where it leads.
func TestStateSymlinkBinary(t *testing.T) {
	dir := t.TempDir()
	cfg := attackConfig(t, dir, nil)
	varDir := filepath.Join(dir, "var")
	os.Mkdir(varDir, 0o700)
	link := filepath.Join(dir, "sink.state")
	if err := os.Symlink(filepath.Join(varDir, "sink.state"), link); err != nil {
		t.Fatal(err)
	}
	s := startBinary(t, nil, "-f", cfg, "--state", link)
	if st, _ := deliver(t, s.addr, sealFrame(t, 1)); st != packet.StatusAccepted {
		t.Fatalf("frame: %s", st)
	}
	s.stop()
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symbolic link: %v %v", link, fi.Mode(), err)
	}
	code, out, stderr := run(t, defaultEnv(), "status", "-f", cfg, "--state", filepath.Join(varDir, "sink.state"))
	if code != 0 || !strings.Contains(out, "default  no      1") {
		t.Fatalf("status of the link's target: exit %d\n%s%s", code, out, stderr)
	}
}

// A configuration or state file owned by another user than root and the
// sink's stops the sink with exit 2, naming the chown that fixes it.
func TestForeignOwnerBinary(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	bin := sinkBinary(t)
	for _, which := range []string{"configuration", "state"} {
		dir := t.TempDir()
		cfg := attackConfig(t, dir, nil)
		state := filepath.Join(dir, "sink.state")
		if code, _, stderr := run(t, defaultEnv(), "status", "-f", cfg); code != 0 {
			t.Fatal(stderr)
		}
		s := startBinary(t, nil, "-f", cfg) // makes the state file
		s.stop()
		file := map[string]string{"configuration": cfg, "state": state}[which]
		if err := os.Chown(file, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		out, err := exec.CommandContext(ctx, bin, "-f", cfg).CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "owned by uid 4242") ||
			!strings.Contains(string(out), "chown root "+file) {
			t.Errorf("%s owned by uid 4242: %v\n%s", which, err, out)
		}
	}
}
