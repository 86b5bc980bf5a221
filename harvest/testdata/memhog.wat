;; memhog: grows its memory a page at a time until the host refuses, then
;; traps (the memory limit must contain it).
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (block $refused
      (loop $grow
        (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $grow)))
    unreachable))
