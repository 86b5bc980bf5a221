package sink

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckAddress(t *testing.T) {
	for _, ok := range []string{":4141", "127.0.0.1:1", "[::1]:65535", "[::]:4141", "vps1.example.net:4141", "localhost:9438"} {
		if err := CheckAddress("Address", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for addr, want := range map[string]string{
		"":                "Address: missing",
		"127.0.0.1":       `Address: "127.0.0.1": missing port in address`,
		":99999":          `port "99999", want a number from 1 to 65535`,
		":0":              `port "0"`,
		":-1":             `port "-1"`,
		":https":          `port "https"`,
		"host:":           `port ""`,
		"::1:4141":        "too many colons",
		"[::1:4141":       "missing ']'",
		"127.0.0.1:41 41": `port "41 41"`,
	} {
		err := CheckAddress("Address", addr)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "Address" || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", addr, err, want)
		}
	}
}
