package harvest

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entropyshare/entropyshare/internal/testtool"
)

// harvested returns a generator seeded by a real harvest.
func harvested(t *testing.T) *Generator {
	t.Helper()
	g, _, err := Harvest(context.Background(), Config{Sources: []string{"kernel", "jitter"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestRngtest runs FIPS 140-2 (rngtest, from rng-tools5) over 1000 blocks
// of 20000 bits. A good generator fails about 0.8 blocks per 1000 by
// chance (Poisson): 4 or more happen in about 1 run of 110, 9 or more in
// about 1 of 5 million; a faulty one fails hundreds. More than 8 is a
// fault.
func TestRngtest(t *testing.T) {
	testtool.Require(t, "rngtest")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "rngtest", "-c", "1000")
	cmd.Stdin = bufio.NewReaderSize(harvested(t), 1<<16)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run() // exits 1 when any block failed; the count decides
	m := regexp.MustCompile(`FIPS 140-2 failures: (\d+)`).FindSubmatch(stderr.Bytes())
	if m == nil {
		t.Fatalf("no failure count in rngtest output:\n%s", stderr.String())
	}
	n, _ := strconv.Atoi(string(m[1]))
	t.Logf("rngtest: %d of 1000 blocks failed", n)
	if n > 8 {
		t.Fatalf("rngtest: %d of 1000 blocks failed FIPS 140-2:\n%s", n, stderr.String())
	}
}

// TestDieharder runs a few quick dieharder tests on raw generator output
// (-g 200: raw bytes on standard input) and fails on any FAILED verdict
// (WEAK happens by chance).
func TestDieharder(t *testing.T) {
	testtool.Require(t, "dieharder")
	for _, d := range []string{"0", "8", "100"} { // birthdays, count the 1s (stream), STS monobit: the quick ones
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "dieharder", "-g", "200", "-d", d)
		cmd.Stdin = harvested(t)
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("dieharder -d %s: %v\n%s", d, err, out)
		}
		res := 0
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "PASSED") || strings.Contains(line, "WEAK") || strings.Contains(line, "FAILED") {
				res++
				t.Log(strings.TrimSpace(line))
			}
			if strings.Contains(line, "FAILED") {
				t.Errorf("dieharder -d %s: %s", d, line)
			}
		}
		if res == 0 {
			t.Fatalf("dieharder -d %s printed no verdict:\n%s", d, out)
		}
	}
}
