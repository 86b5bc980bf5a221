;; bigmem: declares 1 GiB of memory up front (refused at compile time).
(module
  (memory (export "memory") 16384)
  (func (export "_start")))
