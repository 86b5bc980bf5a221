package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
pkg: github.com/entropyshare/entropyshare/packet
BenchmarkSizes/rsa2048-2  912  1410517 ns/op  1383 frame-B  1041 packet-B
pkg: github.com/entropyshare/entropyshare/harvest
BenchmarkGenerator-2  100  1000 ns/op  700.00 MB/s
BenchmarkCryptoRand-2  100  1000 ns/op  350.00 MB/s
`

func TestTable(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if res["packet/BenchmarkSizes/rsa2048"]["frame-B"] != 1383 {
		t.Fatalf("parsed %v", res)
	}
	var out bytes.Buffer
	rows := "# comment\nframe | packet/BenchmarkSizes/rsa2048 | frame-B | - | - | original: 1383\n" +
		"gen | harvest/BenchmarkGenerator | MB/s | harvest/BenchmarkCryptoRand | MB/s | crypto/rand\n" +
		"missing | x/BenchmarkNo | ns/op | - | - | nothing\n"
	if err := write(&out, "", res, rows); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| frame | 1383 frame-B | original: 1383 | | |",
		"| gen | 700 MB/s | crypto/rand | 350 MB/s | 2.00x |",
		"| missing | not run (x/BenchmarkNo ns/op) | nothing | | |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if err := write(&out, "", res, "a | b\n"); err == nil {
		t.Error("short row accepted")
	}
}
