package testtool

import (
	"strconv"
	"strings"
)

// LogFields parses one slog text line (key=value, values maybe quoted)
// into its fields. A quoted value that does not end takes the rest of the
// line.
func LogFields(line string) map[string]string {
	f := map[string]string{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			break
		}
		key := line[:eq]
		line = line[eq+1:]
		var val string
		if strings.HasPrefix(line, `"`) {
			if v, err := strconv.QuotedPrefix(line); err == nil {
				val, _ = strconv.Unquote(v)
				line = line[len(v):]
			} else {
				val, line = line, ""
			}
		} else if sp := strings.IndexByte(line, ' '); sp >= 0 {
			val, line = line[:sp], line[sp:]
		} else {
			val, line = line, ""
		}
		f[key] = val
	}
	return f
}
