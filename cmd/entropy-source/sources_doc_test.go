package main

// TestSourcesDoc keeps docs/SOURCES.md honest. It takes every
// entropy-source command line from the document's ```sh blocks, puts
// stand-ins for the device programs (arecord, ffmpeg, rtl_sdr) first on
// PATH, builds the plugins the lines name, and runs each line's harvest
// flags through the real command (`entropy-source sources`): the line must
// parse, exit 0, and every source it credits must appear in the table
// under the name it credits, available, healthy and credited what the
// line says. The stand-ins check the options they are given and write
// bytes of the shape those options ask for: quiet noise as 16-bit
// samples, dark frames, I/Q samples.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/entropyshare/entropyshare/harvest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const sourcesDocPath = "../../docs/SOURCES.md"

// The stand-ins are this test binary, run by a script on PATH:
// standInEnv names the program it plays, standInSignalEnv what its
// device gives ("" noise, "silent" one flat value, "level" a constant
// 16-bit level with no noise).
const (
	standInEnv       = "ENTROPYSHARE_DOC_STANDIN"
	standInSignalEnv = "ENTROPYSHARE_DOC_SIGNAL"
)

var standInPrograms = []string{"arecord", "ffmpeg", "rtl_sdr"}

func TestSourcesDoc(t *testing.T) {
	lines := sourcesDocLines(t)
	for _, want := range []string{"arecord", "ffmpeg", "rtl_sdr", "--source-file", "gojitter.wasm", "tiny.wasm", "rjitter.wasm", " harvest "} {
		if !slices.ContainsFunc(lines, func(l docLine) bool { return strings.Contains(l.text, want) }) {
			t.Errorf("SOURCES.md has no entropy-source line with %q", want)
		}
	}
	d := newDocEnv(t)
	for _, l := range lines {
		t.Run(fmt.Sprintf("line%d", l.line), func(t *testing.T) { d.check(t, l) })
	}

	// What the document says the health tests do and do not catch.
	first := func(t *testing.T, program string) docLine {
		for _, l := range lines {
			if slices.ContainsFunc(l.args, func(a string) bool { return strings.HasPrefix(a, program+" ") }) {
				return l
			}
		}
		t.Fatalf("no line runs %s", program)
		return docLine{}
	}
	for _, c := range []struct {
		name, program, signal, source, status, health string
	}{
		{"muted microphone", "arecord", "silent", "command:arecord", "excluded", "fail (start-up RCT)"},
		{"microphone stuck at a level", "arecord", "level", "command:arecord", "ok", "pass"},
		{"camera flat black", "ffmpeg", "silent", "command:ffmpeg", "excluded", "fail (start-up RCT)"},
		{"radio flat", "rtl_sdr", "silent", "command:rtl_sdr", "excluded", "fail (start-up RCT)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := first(t, c.program)
			t.Setenv(standInSignalEnv, c.signal)
			_, hargs := d.parse(t, l)
			rows, out := d.sources(t, l, hargs, false)
			r, ok := rows[c.source]
			if !ok || r.status != c.status || r.health != c.health {
				t.Errorf("SOURCES.md:%d with a %s: want %s %s %s\n%s", l.line, c.name, c.source, c.status, c.health, out)
			}
		})
	}
}

// A docLine is one entropy-source command line of the document.
type docLine struct {
	line int      // where it starts in SOURCES.md, from 1
	text string   // as written, continuation lines joined
	args []string // the words after entropy-source, up to a pipe
}

// sourcesDocLines returns the entropy-source command lines of the
// document's ```sh blocks (a leading sudo is dropped).
func sourcesDocLines(t *testing.T) []docLine {
	t.Helper()
	data, err := os.ReadFile(sourcesDocPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []docLine
	inBlock, inSh := false, false
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		text := lines[i]
		if fence, ok := strings.CutPrefix(strings.TrimSpace(text), "```"); ok {
			inBlock = !inBlock
			inSh = inBlock && strings.TrimSpace(fence) == "sh"
			continue
		}
		if !inSh {
			continue
		}
		start := i
		for strings.HasSuffix(text, `\`) && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(text, `\`) + " " + strings.TrimSpace(lines[i])
		}
		if !strings.Contains(text, "entropy-source") {
			continue
		}
		words, err := shellWords(text)
		if err != nil {
			t.Errorf("SOURCES.md:%d: %v", start+1, err)
			continue
		}
		if len(words) > 0 && words[0] == "sudo" {
			words = words[1:]
		}
		if len(words) == 0 || words[0] != "entropy-source" {
			continue
		}
		out = append(out, docLine{line: start + 1, text: text, args: words[1:]})
	}
	if len(out) == 0 {
		t.Fatal("SOURCES.md has no entropy-source command lines in ```sh blocks")
	}
	return out
}

// shellWords splits a shell command line into words as sh does for a
// simple command: blanks separate words, '...' quotes everything, "..."
// quotes all but \$ \` \" \\, and a backslash outside quotes escapes the
// next character. It stops at an unquoted |, ;, & or a # that starts a
// word (the rest of a pipeline, another command, a comment). Anything
// that would need a shell to mean something, an unquoted $ ` < > ( ) or
// a $ or ` inside "...", is an error: nothing is evaluated.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	end := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			end()
		case c == '|' || c == ';' || c == '&':
			end()
			return words, nil
		case c == '#' && !inWord:
			return words, nil
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			w.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += 1 + j
		case c == '"':
			inWord = true
			for i++; ; i++ {
				if i >= len(s) {
					return nil, errors.New(`unterminated "`)
				}
				if s[i] == '"' {
					break
				}
				if s[i] == '$' || s[i] == '`' {
					return nil, fmt.Errorf("%q inside \"...\": not a plain word", s[i])
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\", s[i+1]) >= 0 {
					i++
				}
				w.WriteByte(s[i])
			}
		case c == '\\':
			if i+1 < len(s) {
				i++
				w.WriteByte(s[i])
				inWord = true
			}
		case strings.IndexByte("$`<>()", c) >= 0:
			return nil, fmt.Errorf("unquoted %q: not a simple command", c)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	end()
	return words, nil
}

func TestShellWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`entropy-source sources --credit command:arecord=0.25`, []string{"entropy-source", "sources", "--credit", "command:arecord=0.25"}},
		{`a 'b c | d' "e \"f\" \$g" h\ i | rngtest -c 1000`, []string{"a", "b c | d", `e "f" $g`, "h i"}},
		{`a  b	c # comment`, []string{"a", "b", "c"}},
		{`a#b c`, []string{"a#b", "c"}},
		{`a && b`, []string{"a"}},
		{`a '' b`, []string{"a", "", "b"}},
	} {
		got, err := shellWords(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("shellWords(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`a $HOME`, `a "$HOME"`, "a `b`", `a > f`, `a 'b`, `a "b`, `(a)`} {
		if got, err := shellWords(bad); err == nil {
			t.Errorf("shellWords(%q) = %q, want an error", bad, got)
		}
	}
}

// A docEnv is where the lines run: stand-ins first on PATH, a wasm cache
// of its own, the plugins built once.
type docEnv struct {
	dir     string
	plugins map[string]builtPlugin
	// goCache is Go's build cache as it was before XDG_CACHE_HOME moved:
	// building a plugin with a cold cache would rebuild the standard
	// library.
	goCache string
}

type builtPlugin struct{ path, skip string }

func newDocEnv(t *testing.T) *docEnv {
	d := &docEnv{dir: t.TempDir(), plugins: map[string]builtPlugin{}}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsRune(exe, '\'') {
		t.Skipf("test binary path %q cannot be quoted for sh", exe)
	}
	bin := filepath.Join(d.dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range standInPrograms {
		script := fmt.Sprintf("#!/bin/sh\n%s=%s\nexport %s\nexec '%s' -test.run='^TestSourcesDocStandIn$' -- \"$@\"\n",
			standInEnv, p, standInEnv, exe)
		if err := os.WriteFile(filepath.Join(bin, p), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
		d.goCache = strings.TrimSpace(string(out))
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(d.dir, "cache"))
	t.Setenv(standInSignalEnv, "")
	return d
}

// check runs one line: its harvest flags through sources, and a harvest
// line as harvest too.
func (d *docEnv) check(t *testing.T, l docLine) {
	cmd, hargs := d.parse(t, l)
	switch cmd.Name() {
	case "sources", "entropy-source":
	case "harvest":
		n, err := cmd.Flags().GetInt("bytes")
		if err != nil {
			t.Fatal(err)
		}
		args := append([]string{"harvest", "--bytes", strconv.Itoa(n), "--plugin-timeout", "60s"}, hargs...)
		code, out, errs := run(t, testEnv(), args...)
		if code != 0 || len(out) != n {
			t.Fatalf("SOURCES.md:%d: entropy-source %q: exit %d, %d bytes, want 0 and %d\n%s", l.line, args, code, len(out), n, errs)
		}
	default:
		t.Fatalf("SOURCES.md:%d: entropy-source %s: the test knows how to check sources, harvest and a run, not this", l.line, cmd.Name())
	}
	d.sources(t, l, hargs, true)
}

// parse finds the line's command, checks that the line parses, and
// returns the command and the line's harvest flags (those addHarvestFlags
// makes), with plugin and file paths replaced by what the test built.
func (d *docEnv) parse(t *testing.T, l docLine) (*cobra.Command, []string) {
	t.Helper()
	args := d.rewrite(t, l.args)
	cmd, rest, err := newCommand(testEnv()).Find(args)
	if err != nil {
		t.Fatalf("SOURCES.md:%d: %v", l.line, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("SOURCES.md:%d: entropy-source %s: %v", l.line, cmd.Name(), err)
	}
	if pos := cmd.Flags().Args(); len(pos) > 0 {
		t.Fatalf("SOURCES.md:%d: arguments %q: none of these commands takes any", l.line, pos)
	}
	hf := pflag.NewFlagSet("harvest", pflag.ContinueOnError)
	addHarvestFlags(hf, new(harvest.Config))
	var hargs []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := cmd.Flags().Lookup(name)
		if !strings.HasPrefix(a, "--") && len(name) == 1 {
			f = cmd.Flags().ShorthandLookup(name)
		}
		if !strings.HasPrefix(a, "-") || f == nil {
			t.Fatalf("SOURCES.md:%d: cannot tell what %q is", l.line, a)
		}
		words := []string{a}
		if !hasValue && f.NoOptDefVal == "" && i+1 < len(rest) {
			i++
			words = append(words, rest[i])
		}
		if hf.Lookup(f.Name) != nil {
			hargs = append(hargs, words...)
		}
	}
	return cmd, hargs
}

// rewrite replaces the path of each --plugin with the plugin built for
// the test, and of each --source-file with a file of random bytes of the
// same base name (so the source keeps its name).
func (d *docEnv) rewrite(t *testing.T, args []string) []string {
	t.Helper()
	out := slices.Clone(args)
	replace := func(flag, path string) string {
		if flag == "--plugin" {
			return d.plugin(t, filepath.Base(path))
		}
		return d.file(t, filepath.Base(path))
	}
	for i, a := range out {
		for _, flag := range []string{"--plugin", "--source-file"} {
			if a == flag && i+1 < len(out) {
				out[i+1] = replace(flag, out[i+1])
			} else if v, ok := strings.CutPrefix(a, flag+"="); ok {
				out[i] = flag + "=" + replace(flag, v)
			}
		}
	}
	return out
}

func (d *docEnv) file(t *testing.T, base string) string {
	t.Helper()
	dir := filepath.Join(d.dir, "files")
	path := filepath.Join(dir, base)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	data := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// plugin builds the plugin the document calls base, once, and returns its
// path; it skips the test when the tools to build it are missing.
func (d *docEnv) plugin(t *testing.T, base string) string {
	t.Helper()
	p, ok := d.plugins[base]
	if !ok {
		p = d.build(t, base)
		d.plugins[base] = p
	}
	if p.skip != "" {
		t.Skip(p.skip)
	}
	return p.path
}

func (d *docEnv) build(t *testing.T, base string) builtPlugin {
	t.Helper()
	out := filepath.Join(d.dir, "wasm", base)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	runTool := func(cmd *exec.Cmd) {
		t.Helper()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
		}
	}
	switch base {
	case "gojitter.wasm":
		if testing.Short() {
			return builtPlugin{skip: "builds a Go plugin"}
		}
		if _, err := exec.LookPath("go"); err != nil {
			return builtPlugin{skip: "no go command"}
		}
		cmd := exec.Command("go", "build", "-o", out, "../../plugins/gojitter")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if d.goCache != "" {
			cmd.Env = append(cmd.Env, "GOCACHE="+d.goCache)
		}
		runTool(cmd)
	case "tiny.wasm":
		if _, err := exec.LookPath("wat2wasm"); err != nil {
			return builtPlugin{skip: "no wat2wasm (Debian: wabt)"}
		}
		runTool(exec.Command("wat2wasm", "../../plugins/tiny/tiny.wat", "-o", out))
	case "rjitter.wasm":
		// The Rust plugin is the document's own code: its Cargo.toml and
		// src/main.rs blocks.
		if testing.Short() {
			return builtPlugin{skip: "builds a Rust plugin"}
		}
		if _, err := exec.LookPath("cargo"); err != nil {
			return builtPlugin{skip: "no cargo"}
		}
		libdir, err := exec.Command("rustc", "--print", "target-libdir", "--target", "wasm32-wasip1").Output()
		if _, serr := os.Stat(strings.TrimSpace(string(libdir))); err != nil || serr != nil {
			return builtPlugin{skip: "rustc has no wasm32-wasip1 target (rustup target add wasm32-wasip1)"}
		}
		src := filepath.Join(d.dir, "rjitter")
		if err := os.MkdirAll(filepath.Join(src, "src"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, lang := range map[string]string{"Cargo.toml": "toml", "src/main.rs": "rust"} {
			if err := os.WriteFile(filepath.Join(src, name), []byte(docBlock(t, lang)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		target := filepath.Join(d.dir, "rust-target")
		cmd := exec.Command("cargo", "build", "--quiet", "--offline", "--release", "--target", "wasm32-wasip1")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+target)
		runTool(cmd)
		out = filepath.Join(target, "wasm32-wasip1", "release", base)
	default:
		t.Fatalf("SOURCES.md names a plugin %s that the test cannot build: add it to docEnv.build", base)
	}
	return builtPlugin{path: out}
}

// docBlock returns the document's one fenced block of the language lang.
func docBlock(t *testing.T, lang string) string {
	t.Helper()
	data, err := os.ReadFile(sourcesDocPath)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(data), "```"+lang+"\n")
	if len(parts) != 2 {
		t.Fatalf("SOURCES.md has %d ```%s blocks, want 1", len(parts)-1, lang)
	}
	block, _, ok := strings.Cut(parts[1], "```")
	if !ok {
		t.Fatalf("SOURCES.md: unterminated ```%s block", lang)
	}
	return block
}

// A tableRow is one source's line in the table sources prints.
type tableRow struct{ name, status, health, bits, credited string }

var columnGap = regexp.MustCompile(`\s{2,}`)

func parseTable(out string) map[string]tableRow {
	rows := map[string]tableRow{}
	for _, line := range strings.Split(out, "\n") {
		f := columnGap.Split(line, -1)
		if len(f) < 6 || f[0] == "SOURCE" || f[0] == "total" || f[0] == "note" {
			continue
		}
		rows[f[0]] = tableRow{name: f[0], status: f[1], health: f[3], bits: f[4], credited: f[5]}
	}
	return rows
}

// sources runs entropy-source sources with hargs and returns its table.
// With verify, every file, command and plugin of hargs must be in it,
// available and healthy, and every one that hargs credits must be there
// under that name, credited that many bits per byte.
func (d *docEnv) sources(t *testing.T, l docLine, hargs []string, verify bool) (map[string]tableRow, string) {
	t.Helper()
	// Compiling a Go plugin counts against its time limit; on a loaded
	// test machine the doc's default 5 s is not always enough.
	args := append([]string{"sources", "--plugin-timeout", "60s"}, hargs...)
	code, out, errs := run(t, testEnv(), args...)
	rows := parseTable(out)
	if !verify {
		return rows, out
	}
	if code != 0 {
		t.Fatalf("SOURCES.md:%d: entropy-source %q: exit %d\n%s%s", l.line, args, code, out, errs)
	}
	external := 0
	for i, a := range hargs {
		for _, flag := range []string{"--source-command", "--source-file", "--plugin"} {
			if a == flag || strings.HasPrefix(a, flag+"=") {
				external++
			}
		}
		name, bits, ok := strings.Cut(strings.TrimPrefix(a, "--credit="), "=")
		switch {
		case a == "--credit" && i+1 < len(hargs):
			name, bits, ok = strings.Cut(hargs[i+1], "=")
		case strings.HasPrefix(a, "--credit="):
		default:
			ok = false
		}
		if !ok || slices.Contains(harvest.BuiltinSources, name) {
			continue
		}
		b, err := strconv.ParseFloat(bits, 64)
		if err != nil {
			t.Fatalf("SOURCES.md:%d: --credit %s=%s", l.line, name, bits)
		}
		r, found := rows[name]
		switch {
		case !found:
			t.Errorf("SOURCES.md:%d: --credit %s=%s names no source in the table:\n%s", l.line, name, bits, out)
		case r.status != "ok" || r.bits != fmt.Sprintf("%.2f", b) || (b > 0 && (r.health != "pass" || r.credited == "0")):
			t.Errorf("SOURCES.md:%d: %s: %s, %s, %s bits per byte, %s credited; want ok, pass, %.2f\n%s",
				l.line, name, r.status, r.health, r.bits, r.credited, b, out)
		}
	}
	var names []string
	for name, r := range rows {
		if strings.HasPrefix(name, "command:") || strings.HasPrefix(name, "file:") || strings.HasPrefix(name, "plugin:") {
			names = append(names, name)
			if r.status != "ok" {
				t.Errorf("SOURCES.md:%d: %s is %s\n%s%s", l.line, name, r.status, out, errs)
			}
		}
	}
	if len(names) != external {
		t.Errorf("SOURCES.md:%d: %d sources configured, %d in the table (%q)\n%s", l.line, external, len(names), names, out)
	}
	return rows, out
}

// TestSourcesDocStandIn is not a test: TestSourcesDoc's scripts run the
// test binary with it, to play arecord, ffmpeg or rtl_sdr.
func TestSourcesDocStandIn(t *testing.T) {
	program := os.Getenv(standInEnv)
	if program == "" {
		t.Skip("a stand-in for TestSourcesDoc")
	}
	args := os.Args[len(os.Args):]
	if i := slices.Index(os.Args, "--"); i >= 0 {
		args = os.Args[i+1:]
	}
	w := bufio.NewWriter(os.Stdout)
	err := standIn(program, args, os.Getenv(standInSignalEnv), w)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s (stand-in): %v\n", program, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// standIn checks a device program's options and writes what its device
// would give: n bytes of samples, or samples without end for n < 0.
func standIn(program string, args []string, signal string, w io.Writer) error {
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	gauss := func(mean, sd float64, lo, hi int) int {
		return min(max(int(math.Round(mean+sd*r.NormFloat64())), lo), hi)
	}
	var n int
	var sample func(buf []byte) []byte
	var err error
	switch program {
	case "arecord":
		if n, err = arecordBytes(args); err != nil {
			return err
		}
		sample = func(buf []byte) []byte {
			v := gauss(0, 4, math.MinInt16, math.MaxInt16) // a quiet room: a few steps of noise
			switch signal {
			case "silent":
				v = 0
			case "level":
				v = 3
			}
			u := uint16(int16(v))
			return append(buf, byte(u), byte(u>>8)) // S16_LE: low byte first
		}
	case "ffmpeg":
		if n, err = ffmpegBytes(args); err != nil {
			return err
		}
		sample = func(buf []byte) []byte {
			v := gauss(16, 1.5, 0, 255) // a covered lens: black, with a little sensor noise
			if signal == "silent" {
				v = 16
			}
			return append(buf, byte(v))
		}
	case "rtl_sdr":
		if n, err = rtlSDRBytes(args); err != nil {
			return err
		}
		sample = func(buf []byte) []byte {
			v := gauss(127.5, 6, 0, 255) // no antenna, full gain: the tuner's own noise
			if signal == "silent" {
				v = 127
			}
			return append(buf, byte(v))
		}
	default:
		return fmt.Errorf("no stand-in for %s", program)
	}
	buf := make([]byte, 0, 4096+8)
	for n != 0 {
		buf = buf[:0]
		for len(buf) < 4096 {
			buf = sample(buf)
		}
		if n > 0 && len(buf) > n {
			buf = buf[:n]
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if n > 0 {
			n -= len(buf)
		}
	}
	return nil
}

// arecordBytes checks arecord's options as SOURCES.md uses them and
// returns how many bytes it would write (-1: until stopped).
func arecordBytes(args []string) (int, error) {
	format, fileType := "U8", "wav" // arecord's defaults
	channels, rate, frames, secs := 1, 8000, -1, -1
	var files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-q" || a == "--quiet" {
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			files = append(files, a)
			continue
		}
		if i+1 >= len(args) {
			return 0, fmt.Errorf("%s wants a value", a)
		}
		i++
		v := args[i]
		var err error
		switch a {
		case "-D", "--device":
		case "-f", "--format":
			format = v
		case "-t", "--file-type":
			fileType = v
		case "-c", "--channels":
			channels, err = strconv.Atoi(v)
		case "-r", "--rate":
			rate, err = strconv.Atoi(v)
		case "-d", "--duration":
			secs, err = strconv.Atoi(v)
		case "-s", "--samples":
			frames, err = strconv.Atoi(v)
		default:
			return 0, fmt.Errorf("the stand-in does not know %s", a)
		}
		if err != nil {
			return 0, fmt.Errorf("%s %s: %v", a, v, err)
		}
	}
	switch {
	case format != "S16_LE":
		return 0, fmt.Errorf("-f %s: SOURCES.md explains S16_LE", format)
	case fileType != "raw":
		return 0, fmt.Errorf("-t %s: a header is not noise; want -t raw", fileType)
	case len(files) > 1 || len(files) == 1 && files[0] != "-":
		return 0, fmt.Errorf("writes to %q, not to standard output", files)
	case channels < 1 || rate < 1:
		return 0, errors.New("bad channels or rate")
	}
	if frames < 0 && secs > 0 {
		frames = secs * rate
	}
	if frames < 0 {
		return -1, nil
	}
	return frames * channels * 2, nil
}

// ffmpegBytes checks ffmpeg's options as SOURCES.md uses them (one v4l2
// input, raw gray video to standard output) and returns how many bytes
// it would write (-1: until stopped).
func ffmpegBytes(args []string) (int, error) {
	inFormat, outFormat, input, pixFmt, filters := "", "", "", "", ""
	w, h, frames := 640, 480, -1
	var outputs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-nostdin", "-hide_banner", "-y":
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			outputs = append(outputs, a)
			continue
		}
		if i+1 >= len(args) {
			return 0, fmt.Errorf("%s wants a value", a)
		}
		i++
		v := args[i]
		switch a {
		case "-loglevel", "-v", "-input_format", "-framerate":
		case "-f":
			if input == "" {
				inFormat = v
			} else {
				outFormat = v
			}
		case "-video_size":
			if _, err := fmt.Sscanf(v, "%dx%d", &w, &h); err != nil {
				return 0, fmt.Errorf("-video_size %s: %v", v, err)
			}
		case "-i":
			input = v
		case "-vf", "-filter:v":
			filters = v
		case "-pix_fmt":
			pixFmt = v
		case "-frames:v", "-vframes":
			var err error
			if frames, err = strconv.Atoi(v); err != nil {
				return 0, fmt.Errorf("%s %s: %v", a, v, err)
			}
		default:
			return 0, fmt.Errorf("the stand-in does not know %s", a)
		}
	}
	for f := range strings.SplitSeq(filters, ",") {
		switch name, opts, _ := strings.Cut(f, "="); name {
		case "":
		case "crop":
			if _, err := fmt.Sscanf(strings.ReplaceAll(opts, ":", " "), "%d %d", &w, &h); err != nil {
				return 0, fmt.Errorf("crop=%s: %v", opts, err)
			}
		case "format":
			pixFmt = opts
		default:
			return 0, fmt.Errorf("the stand-in does not know the filter %s", f)
		}
	}
	switch {
	case inFormat != "v4l2" || !strings.HasPrefix(input, "/dev/video"):
		return 0, fmt.Errorf("input -f %q -i %q: want a v4l2 camera", inFormat, input)
	case outFormat != "rawvideo":
		return 0, fmt.Errorf("output -f %q: want rawvideo", outFormat)
	case pixFmt != "gray":
		return 0, fmt.Errorf("pixel format %q: SOURCES.md explains gray", pixFmt)
	case len(outputs) != 1 || outputs[0] != "-" && outputs[0] != "pipe:1":
		return 0, fmt.Errorf("outputs %q: want standard output", outputs)
	}
	if frames < 0 {
		return -1, nil
	}
	return frames * w * h, nil
}

// rtlSDRBytes checks rtl_sdr's options and returns how many bytes it
// would write (-1: until stopped): -n counts I/Q pairs, two bytes each.
func rtlSDRBytes(args []string) (int, error) {
	samples, tuned := -1, false
	var files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-S" {
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			files = append(files, a)
			continue
		}
		if i+1 >= len(args) {
			return 0, fmt.Errorf("%s wants a value", a)
		}
		i++
		switch a {
		case "-f":
			tuned = true
		case "-s", "-g", "-d", "-p", "-b":
		case "-n":
			var err error
			if samples, err = strconv.Atoi(args[i]); err != nil {
				return 0, fmt.Errorf("-n %s: %v", args[i], err)
			}
		default:
			return 0, fmt.Errorf("the stand-in does not know %s", a)
		}
	}
	switch {
	case !tuned:
		return 0, errors.New("no -f frequency")
	case len(files) != 1 || files[0] != "-":
		return 0, fmt.Errorf("writes to %q; want - for standard output", files)
	case samples <= 0:
		return -1, nil
	}
	return 2 * samples, nil
}
