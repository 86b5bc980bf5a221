;; tiny: an entropyshare plugin small enough for a slow board. It takes
;; the byte count from argv[1], fills a buffer with WASI random_get, XORs
;; each byte with the low byte of a monotonic clock reading (timing jitter
;; of the host calls), and writes the bytes to fd 1.
;;
;; Build: wat2wasm plugins/tiny/tiny.wat -o plugins/tiny/tiny.wasm
;;
;; Memory layout (2 pages):
;;   0     argc, 4 argv_buf_size
;;   16    argv pointers (at most 60)
;;   256   argv strings (at most 3840 bytes)
;;   4096  iovec {ptr, len}, 4104 clock reading (8 bytes), 4112 nwritten
;;   8192  output buffer (at most 65536 bytes)
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)

  (func $fail (param $code i32)
    (call $proc_exit (local.get $code))
    unreachable)

  ;; wanted parses argv[1] as a decimal byte count.
  (func $wanted (result i32)
    (local $p i32) (local $c i32) (local $n i32)
    (if (call $args_sizes_get (i32.const 0) (i32.const 4)) (then (call $fail (i32.const 1))))
    (if (i32.lt_u (i32.load (i32.const 0)) (i32.const 2)) (then (call $fail (i32.const 1))))
    (if (i32.gt_u (i32.load (i32.const 0)) (i32.const 60)) (then (call $fail (i32.const 1))))
    (if (i32.gt_u (i32.load (i32.const 4)) (i32.const 3840)) (then (call $fail (i32.const 1))))
    (if (call $args_get (i32.const 16) (i32.const 256)) (then (call $fail (i32.const 1))))
    (local.set $p (i32.load (i32.const 20)))
    (block $done
      (loop $digit
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $done (i32.eqz (local.get $c)))
        (if (i32.or (i32.lt_u (local.get $c) (i32.const 48)) (i32.gt_u (local.get $c) (i32.const 57)))
          (then (call $fail (i32.const 1))))
        (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))
        (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (call $fail (i32.const 2))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digit)))
    (local.get $n))

  (func (export "_start")
    (local $n i32) (local $i i32) (local $off i32)
    (local.set $n (call $wanted))
    (if (call $random_get (i32.const 8192) (local.get $n)) (then (call $fail (i32.const 1))))
    ;; XOR in the low byte of a clock reading per output byte.
    (block $mixed
      (loop $mix
        (br_if $mixed (i32.ge_u (local.get $i) (local.get $n)))
        (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 4104)))
        (i32.store8 (i32.add (i32.const 8192) (local.get $i))
          (i32.xor (i32.load8_u (i32.add (i32.const 8192) (local.get $i)))
                   (i32.load8_u (i32.const 4104))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $mix)))
    ;; Write it all, however the host splits the writes.
    (block $written
      (loop $write
        (br_if $written (i32.ge_u (local.get $off) (local.get $n)))
        (i32.store (i32.const 4096) (i32.add (i32.const 8192) (local.get $off)))
        (i32.store (i32.const 4100) (i32.sub (local.get $n) (local.get $off)))
        (if (call $fd_write (i32.const 1) (i32.const 4096) (i32.const 1) (i32.const 4112))
          (then (call $fail (i32.const 1))))
        (local.set $off (i32.add (local.get $off) (i32.load (i32.const 4112))))
        (br $write))))
)
