// Command bigmodule writes a WebAssembly command module of about -size
// bytes: its _start is one function, i32.const 1 and drop over and over.
// It does nothing when run, but compiling it costs time and memory in
// proportion to its size (a function is compiled as one piece), which is
// what the plugin size cap and compile time limit are tested with.
package main

import (
	"flag"
	"log"
	"os"
)

func uleb(n int) []byte {
	var b []byte
	for {
		c := byte(n & 0x7f)
		if n >>= 7; n == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, uleb(len(body))...), body...)
}

func main() {
	size := flag.Int("size", 1<<20, "module size in bytes, about")
	out := flag.String("o", "big.wasm", "output file")
	flag.Parse()
	body := []byte{0} // no locals
	for len(body)+3 < *size-64 {
		body = append(body, 0x41, 0x01, 0x1a) // i32.const 1; drop
	}
	body = append(body, 0x0b) // end
	m := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	m = append(m, section(1, []byte{1, 0x60, 0, 0})...)                                   // type 0: [] -> []
	m = append(m, section(3, []byte{1, 0})...)                                            // function 0 has type 0
	m = append(m, section(5, []byte{1, 0, 1})...)                                         // one memory, 1 page
	m = append(m, section(7, append([]byte{1, 6}, append([]byte("_start"), 0, 0)...))...) // export func 0 as _start
	m = append(m, section(10, append([]byte{1}, append(uleb(len(body)), body...)...))...)
	if err := os.WriteFile(*out, m, 0o644); err != nil {
		log.Fatal(err)
	}
}
