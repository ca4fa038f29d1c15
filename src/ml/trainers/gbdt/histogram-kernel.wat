;; The gbdt kernels in WebAssembly text (assembled by scripts/build-wasm.mjs into wasm-kernel-bytes.ts).
;;
;; They compute exactly what the JavaScript kernels of histograms.ts compute, in the same order, so results
;; are bit-for-bit identical; they run about twice as fast (no bounds checks, tighter code). Every address is
;; in bytes into the memory the training shares with its threads, imported as env.mem (at most 2 GiB).
(module
  (import "env" "mem" (memory 1 32768 shared))

  ;; Sums rows[start..end) (or rows start..end themselves when $useRows is 0) into the histogram at $pool,
  ;; for features f0..f1. Per feature, 256 bins of 3 doubles (sum of gradients, sum of hessians, count):
  ;; 6144 bytes. $gh interleaves each row's gradient and hessian; $binned is row-major, $F bytes a row.
  ;; The caller zeroes the histogram's range first.
  (func (export "hist")
    (param $pool i32) (param $binned i32) (param $F i32) (param $gh i32) (param $rows i32)
    (param $start i32) (param $end i32) (param $useRows i32) (param $f0 i32) (param $f1 i32)
    (local $k i32) (local $i i32) (local $rowp i32) (local $f i32) (local $o i32) (local $base i32)
    (local $g f64) (local $h f64)
    (local.set $k (local.get $start))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $k) (local.get $end)))
        ;; The row: rows[k], or k itself.
        (local.set $i
          (select
            (i32.load (i32.add (local.get $rows) (i32.shl (local.get $k) (i32.const 2))))
            (local.get $k)
            (local.get $useRows)))
        (local.set $o (i32.add (local.get $gh) (i32.shl (local.get $i) (i32.const 4))))
        (local.set $g (f64.load (local.get $o)))
        (local.set $h (f64.load offset=8 (local.get $o)))
        (local.set $rowp
          (i32.add (i32.add (local.get $binned) (i32.mul (local.get $i) (local.get $F))) (local.get $f0)))
        (local.set $base (i32.add (local.get $pool) (i32.mul (local.get $f0) (i32.const 6144))))
        (local.set $f (local.get $f0))
        (loop $features
          ;; The slot of this feature's bin for the row.
          (local.set $o
            (i32.add (local.get $base) (i32.mul (i32.load8_u (local.get $rowp)) (i32.const 24))))
          (f64.store (local.get $o) (f64.add (f64.load (local.get $o)) (local.get $g)))
          (f64.store offset=8 (local.get $o) (f64.add (f64.load offset=8 (local.get $o)) (local.get $h)))
          (f64.store offset=16 (local.get $o) (f64.add (f64.load offset=16 (local.get $o)) (f64.const 1)))
          (local.set $rowp (i32.add (local.get $rowp) (i32.const 1)))
          (local.set $base (i32.add (local.get $base) (i32.const 6144)))
          (br_if $features
            (i32.lt_u (local.tee $f (i32.add (local.get $f) (i32.const 1))) (local.get $f1))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rows))))

  ;; Partitions rows[start..end) by "bin of the feature <= $bin" (the missing bin, 255, by $missingLeft),
  ;; branch-free as the JavaScript does: every row is written to both places, and the count of the side it
  ;; belongs to moves on. $column is the feature's column of the column-major binned matrix. Returns where
  ;; the right-hand rows begin; the caller appends scratch[0..end - that) there.
  (func (export "partition")
    (param $rows i32) (param $scratch i32) (param $column i32) (param $start i32) (param $end i32)
    (param $bin i32) (param $missingLeft i32)
    (result i32)
    (local $k i32) (local $nl i32) (local $nr i32) (local $i i32) (local $v i32) (local $left i32)
    (local.set $nl (local.get $start))
    (local.set $k (local.get $start))
    (local.set $nr (i32.const 0))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $k) (local.get $end)))
        (local.set $i (i32.load (i32.add (local.get $rows) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $v (i32.load8_u (i32.add (local.get $column) (local.get $i))))
        (local.set $left
          (i32.or
            (i32.le_u (local.get $v) (local.get $bin))
            (i32.and (i32.eq (local.get $v) (i32.const 255)) (local.get $missingLeft))))
        (i32.store (i32.add (local.get $rows) (i32.shl (local.get $nl) (i32.const 2))) (local.get $i))
        (i32.store (i32.add (local.get $scratch) (i32.shl (local.get $nr) (i32.const 2))) (local.get $i))
        (local.set $nl (i32.add (local.get $nl) (local.get $left)))
        (local.set $nr (i32.add (local.get $nr) (i32.xor (local.get $left) (i32.const 1))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rows)))
    (local.get $nl)))
