;; The result fold of ../shared/bench/SPEC.md section 8, for `passthrough bench` (src/cli/bench.ts).
;; Not part of the simulator: the benchmark harness folds each burst's results (the layout of
;; src/sim/vtd/translate.ts's DmaBurst) into the SPEC's counters and order-dependent hash, as the C
;; reference does in C. In JavaScript the same loop cost about 7 ns per request, a third of the
;; timed loop on W2, and its speed changed with V8's optimisation decisions from run to run.
;;
;; State, in the imported memory at $state (set by `reset`): [0] h1, [4] h2, [8] successes,
;; [64 + 4*slot] faults in that slot: slot = (word ^ word >> 8) & 0xff of the fault word. A VT-d
;; reason is a byte (its own slot), an SMMUv3 event id too; AMD-Vi's words (event[1] 31:16,
;; code << 12 | flags) land in distinct slots (src/cli/benchModels.ts checks its keys' slots).
(module
  (import "sim" "memory" (memory 1))
  (global $state (mut i32) (i32.const 0))

  (func (export "reset") (param $state i32)
    (global.set $state (local.get $state))
    (memory.fill (local.get $state) (i32.const 0) (i32.const 1088))
    (i32.store offset=0 (local.get $state) (i32.const 0x811c9dc5))
    (i32.store offset=4 (local.get $state) (i32.const 0x6a09e667)))

  ;; Folds results [results, results + 8n) in order, and copies the next burst's m requests (IOVAs,
  ;; 8 bytes each, from $src to $dst; write flags, a byte each, from $srcW to $dstW) in the same
  ;; loop: the fold is one chain of dependent multiplies (8 cycles a result), and the copy's loads
  ;; and stores run in its shadow instead of in a memmove of their own (about 3% of W2's time).
  ;; A result is (address low, address high), or (reason, 0xffffffff) for a fault.
  (func (export "fold") (param $results i32) (param $n i32) (param $src i32) (param $dst i32) (param $srcW i32) (param $dstW i32) (param $m i32)
    (local $h1 i32) (local $h2 i32) (local $ok i32) (local $w0 i32) (local $w1 i32) (local $k i32)
    (local $s i32) (local $c i32)
    (local.set $s (global.get $state))
    (local.set $h1 (i32.load offset=0 (local.get $s)))
    (local.set $h2 (i32.load offset=4 (local.get $s)))
    (local.set $ok (i32.load offset=8 (local.get $s)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (i64.store (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 3)))
          (i64.load (i32.add (local.get $src) (i32.shl (local.get $k) (i32.const 3)))))
        (i32.store8 (i32.add (local.get $dstW) (local.get $k)) (i32.load8_u (i32.add (local.get $srcW) (local.get $k))))
        (local.set $w0 (i32.load offset=0 (i32.add (local.get $results) (i32.shl (local.get $k) (i32.const 3)))))
        (local.set $w1 (i32.load offset=4 (i32.add (local.get $results) (i32.shl (local.get $k) (i32.const 3)))))
        (if (i32.eq (local.get $w1) (i32.const -1))
          (then
            (local.set $c (i32.add (local.get $s) (i32.shl (i32.and (i32.xor (local.get $w0) (i32.shr_u (local.get $w0) (i32.const 8))) (i32.const 0xff)) (i32.const 2))))
            (i32.store offset=64 (local.get $c) (i32.add (i32.load offset=64 (local.get $c)) (i32.const 1))))
          (else (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
        ;; FNV-1a-style h1 and a golden-ratio h2, each word in the SPEC's order.
        (local.set $h1 (i32.mul (i32.xor (local.get $h1) (local.get $w0)) (i32.const 0x01000193)))
        (local.set $h1 (i32.mul (i32.xor (local.get $h1) (local.get $w1)) (i32.const 0x01000193)))
        (local.set $h2 (i32.mul (i32.xor (local.get $h2) (local.get $w1)) (i32.const 0x9e3779b1)))
        (local.set $h2 (i32.mul (i32.xor (local.get $h2) (local.get $w0)) (i32.const 0x9e3779b1)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $next)))
    (i32.store offset=0 (local.get $s) (local.get $h1))
    (i32.store offset=4 (local.get $s) (local.get $h2))
    (i32.store offset=8 (local.get $s) (local.get $ok))
    ;; The requests beyond the results folded (the first burst's, before any result).
    (if (i32.gt_u (local.get $m) (local.get $n))
      (then
        (memory.copy (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3)))
          (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 3))) (i32.shl (i32.sub (local.get $m) (local.get $n)) (i32.const 3)))
        (memory.copy (i32.add (local.get $dstW) (local.get $n)) (i32.add (local.get $srcW) (local.get $n)) (i32.sub (local.get $m) (local.get $n))))))
)
