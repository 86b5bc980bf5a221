;; sleep: asks WASI poll_oneoff for one 60 s clock subscription, then
;; writes 16 bytes and exits 0. The time limit, or the run's end, must
;; stop it while it sleeps, and nothing it does after that may count.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; The subscription at 0 (48 bytes): userdata 0, tag 0 (clock),
    ;; clock id 1 (monotonic) at 16, timeout at 24, precision 0, flags 0
    ;; (relative). Its event goes at 64, the event count at 96.
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 60000000000))
    (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 96)))
    ;; Then 16 bytes from 128 (whatever is there) to fd 1: one iovec at 112.
    (i32.store (i32.const 112) (i32.const 128))
    (i32.store (i32.const 116) (i32.const 16))
    (drop (call $fd_write (i32.const 1) (i32.const 112) (i32.const 1) (i32.const 100)))))
