;; The VT-d second-level translate step as WebAssembly: IOTLB probe, then on a miss the
;; address-width check, page walk, IOTLB fill. The DMAR unit (src/sim/vtd/unit.ts) and `passthrough bench` both reach it
;; through SecondLevelTranslator.translate (src/sim/vtd/translate.ts); the TypeScript SlptWalker
;; and Iotlb implement the same rules for the cold paths (walks that leave the table pool, recorded
;; walk trails, probes) and are checked against this code by property tests.
;;
;; Why WebAssembly: the hot path is 64-bit table entries read from simulated memory. JavaScript
;; has no untagged 64-bit integer, so the TypeScript walker splits every entry and address into
;; int32 halves and still ran at 0.25-0.35x of the C reference walker (../shared/bench/SPEC.md);
;; here an entry is one i64.load.
;;
;; Rules, check for check as QEMU's vtd_iova_to_slpte (hw/i386/intel_iommu.c @0192d6677c38):
;; permissions ANDed down the levels; a missing R/W bit faults (0x06 read / 0x05 write) before
;; reserved bits (0x0C) are looked at; superpages at L3 (1 GiB) and L2 (2 MiB) where CAP.SLLPS
;; has them. A table address outside the pool returns -1: the caller redoes the walk in
;; TypeScript (sparse DRAM, read errors 0x03/0x07), which reads the same bytes.
;;
;; Memory (imported; PhysicalMemory owns it):
;;   [poolBytesAt]            i32  bytes of the table pool allocated so far (PhysicalMemory keeps it)
;;   [poolOff, ...)           the table pool: entry at HPA a is the i64 at poolOff + (a - poolHpa)
;;   [blk + 8*(L*2+large)]    i64  reserved-bit mask of level L (large: a superpage entry)
;;   [blk + 96]               i64  result: translated address
;;   [blk + 104] level  [blk + 108] perm  [blk + 112] iotlbHit  [blk + 116] hits  [blk + 120] misses
;;   [blk + 128] i64 IOVA, [blk + 136] u8 write, [blk + 144] i64 result: translate()'s burst of one
;;   [blk + 152] i64 result of $burstWalk4's second pass over a burst's last request
;;   [tlb, ...)               IOTLB slots, the layout of src/sim/vtd/iotlb.ts (4 i32 per way,
;;                            grouped by field within a set); [victim + set] u8 FIFO victim way
(module
  (import "sim" "memory" (memory 1))

  (global $blk (mut i32) (i32.const 0))
  (global $poolHpa (mut i64) (i64.const 0))
  (global $poolOff (mut i32) (i32.const 0))
  (global $poolBytesAt (mut i32) (i32.const 0))
  ;; ADDR field of an entry: bits HAW-1:12.
  (global $addrMask (mut i64) (i64.const 0))
  ;; Bit L set when PS=1 at level L is a superpage (CAP.SLLPS): bits 2 and 3 only.
  (global $largeOk (mut i32) (i32.const 0))
  ;; IOTLB: byte offset of the slots (0: no IOTLB), of the victim bytes, sets - 1, log2(sets), ways.
  (global $tlb (mut i32) (i32.const 0))
  (global $victim (mut i32) (i32.const 0))
  (global $setMask (mut i32) (i32.const 0))
  (global $setBits (mut i64) (i64.const 0))
  (global $ways (mut i32) (i32.const 0))
  ;; $hitRun4: the permission of the last hit it answered.
  (global $lastPerm (mut i32) (i32.const 0))

  (func (export "configure")
    (param $blk i32) (param $poolHpa f64) (param $poolOff i32) (param $poolBytesAt i32)
    (param $addrMaskHi i32) (param $largeOk i32)
    (param $tlb i32) (param $victim i32) (param $sets i32) (param $ways i32)
    (global.set $blk (local.get $blk))
    (global.set $poolHpa (i64.trunc_f64_u (local.get $poolHpa)))
    (global.set $poolOff (local.get $poolOff))
    (global.set $poolBytesAt (local.get $poolBytesAt))
    (global.set $addrMask
      (i64.or (i64.shl (i64.extend_i32_u (local.get $addrMaskHi)) (i64.const 32)) (i64.const 0xfffff000)))
    (global.set $largeOk (local.get $largeOk))
    (global.set $tlb (local.get $tlb))
    (global.set $victim (local.get $victim))
    (global.set $setMask (i32.sub (local.get $sets) (i32.const 1)))
    (global.set $setBits (i64.extend_i32_u (i32.ctz (local.get $sets))))
    (global.set $ways (local.get $ways)))

  ;; Walks `levels` levels from the table at HPA $root. 0 (result at blk+96..), a fault reason
  ;; (level at blk+104), or -1 when a table address leaves the pool.
  (func $walk (param $root i64) (param $levels i32) (param $iova i64) (param $write i32) (result i32)
    (local $t i64) (local $L i32) (local $off i64) (local $e i64) (local $perm i64) (local $need i64)
    (local $large i32) (local $shift i64) (local $offMask i64) (local $poolBytes i64)
    (local.set $need (select (i64.const 2) (i64.const 1) (local.get $write)))
    (local.set $perm (i64.const 3))
    (local.set $t (local.get $root))
    (local.set $L (local.get $levels))
    (local.set $poolBytes (i64.extend_i32_u (i32.load (global.get $poolBytesAt))))
    (loop $level
      ;; index(iova, L) = (iova >> (12 + 9*(L-1))) & 511
      (local.set $shift (i64.extend_i32_u (i32.add (i32.const 3) (i32.mul (i32.const 9) (local.get $L)))))
      (local.set $off
        (i64.sub
          (i64.add (local.get $t)
            (i64.shl (i64.and (i64.shr_u (local.get $iova) (local.get $shift)) (i64.const 511)) (i64.const 3)))
          (global.get $poolHpa)))
      (if (i64.ge_u (local.get $off) (local.get $poolBytes)) (then (return (i32.const -1))))
      (local.set $e (i64.load (i32.add (global.get $poolOff) (i32.wrap_i64 (local.get $off)))))
      (local.set $perm (i64.and (local.get $perm) (local.get $e)))
      (if (i64.eqz (i64.and (local.get $e) (local.get $need)))
        (then
          (i32.store offset=104 (global.get $blk) (local.get $L))
          (return (select (i32.const 0x05) (i32.const 0x06) (local.get $write)))))
      ;; PS (bit 7) makes a superpage only where CAP.SLLPS has one (largeOk bit L).
      (local.set $large
        (i32.and
          (i32.wrap_i64 (i64.shr_u (local.get $e) (i64.const 7)))
          (i32.shr_u (global.get $largeOk) (local.get $L))))
      (local.set $large (i32.and (local.get $large) (i32.const 1)))
      (if (i64.ne (i64.const 0)
            (i64.and (local.get $e)
              (i64.load (i32.add (global.get $blk)
                (i32.shl (i32.add (i32.shl (local.get $L) (i32.const 1)) (local.get $large)) (i32.const 3))))))
        (then
          (i32.store offset=104 (global.get $blk) (local.get $L))
          (return (i32.const 0x0c))))
      (if (i32.or (i32.eq (local.get $L) (i32.const 1)) (local.get $large))
        (then
          (local.set $offMask (i64.sub (i64.shl (i64.const 1) (local.get $shift)) (i64.const 1)))
          (i64.store offset=96 (global.get $blk)
            (i64.or
              (i64.and (i64.and (local.get $e) (global.get $addrMask)) (i64.xor (local.get $offMask) (i64.const -1)))
              (i64.and (local.get $iova) (local.get $offMask))))
          (i32.store offset=104 (global.get $blk) (local.get $L))
          (i32.store offset=108 (global.get $blk) (i32.wrap_i64 (i64.and (local.get $perm) (i64.const 3))))
          (return (i32.const 0))))
      (local.set $t (i64.and (local.get $e) (global.get $addrMask)))
      (local.set $L (i32.sub (local.get $L) (i32.const 1)))
      (br $level))
    (unreachable))

  ;; IOTLB lookup of (did, iova): -1 on a miss; 0 on a permitted hit; 0x05 / 0x06 on a hit whose
  ;; cached permission lacks the access. Probes the 4 KiB key, then 2 MiB, then 1 GiB, starting at
  ;; level $from ($translate1 probes 4 KiB itself in a 4-way IOTLB).
  (func $lookup (param $did i32) (param $iova i64) (param $write i32) (param $from i32) (result i32)
    (local $L i32) (local $pageShift i64) (local $x i64) (local $base i32) (local $tagA i32) (local $tagB i32)
    (local $q i32) (local $m0 i32) (local $m1 i32) (local $m2 i32) (local $m3 i32) (local $w i32)
    (local $baseLo i32) (local $perm i32) (local $offMask i32) (local $ways i32)
    (local.set $ways (global.get $ways))
    (local.set $L (local.get $from))
    (loop $probe
      (local.set $pageShift (i64.extend_i32_u (i32.add (i32.const 3) (i32.mul (i32.const 9) (local.get $L)))))
      (local.set $base
        (i32.add (global.get $tlb)
          (i32.shl
            (i32.mul
              (i32.and (i32.wrap_i64 (i64.shr_u (local.get $iova) (local.get $pageShift))) (global.get $setMask))
              (local.get $ways))
            (i32.const 4))))
      (local.set $x (i64.shr_u (local.get $iova) (i64.add (local.get $pageShift) (global.get $setBits))))
      (local.set $tagA (i32.or (i32.shl (i32.wrap_i64 (local.get $x)) (i32.const 2)) (local.get $L)))
      (local.set $tagB
        (i32.or (i32.shl (local.get $did) (i32.const 16))
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 30))) (i32.const 0xffff))))
      (local.set $q (i32.const -1))
      (if (i32.eq (local.get $ways) (i32.const 4))
        (then
          ;; Branch-free 4-way match (on a hot set the way that hits is unpredictable). At most one
          ;; way matches: a fill only follows a miss for the same tag.
          (local.set $m0 (i32.eqz (i32.or
            (i32.xor (i32.load offset=0 (local.get $base)) (local.get $tagA))
            (i32.xor (i32.load offset=16 (local.get $base)) (local.get $tagB)))))
          (local.set $m1 (i32.eqz (i32.or
            (i32.xor (i32.load offset=4 (local.get $base)) (local.get $tagA))
            (i32.xor (i32.load offset=20 (local.get $base)) (local.get $tagB)))))
          (local.set $m2 (i32.eqz (i32.or
            (i32.xor (i32.load offset=8 (local.get $base)) (local.get $tagA))
            (i32.xor (i32.load offset=24 (local.get $base)) (local.get $tagB)))))
          (local.set $m3 (i32.eqz (i32.or
            (i32.xor (i32.load offset=12 (local.get $base)) (local.get $tagA))
            (i32.xor (i32.load offset=28 (local.get $base)) (local.get $tagB)))))
          (if (i32.or (i32.or (local.get $m0) (local.get $m1)) (i32.or (local.get $m2) (local.get $m3)))
            (then
              (local.set $q (i32.add (local.get $base)
                (i32.shl
                  (i32.or (i32.or (local.get $m1) (i32.shl (local.get $m2) (i32.const 1))) (i32.mul (local.get $m3) (i32.const 3)))
                  (i32.const 2)))))))
        (else
          (local.set $w (i32.const 0))
          (block $found
            (loop $way
              (br_if $found (i32.ge_u (local.get $w) (local.get $ways)))
              (if (i32.and
                    (i32.eq (i32.load (i32.add (local.get $base) (i32.shl (local.get $w) (i32.const 2)))) (local.get $tagA))
                    (i32.eq
                      (i32.load (i32.add (local.get $base) (i32.shl (i32.add (local.get $ways) (local.get $w)) (i32.const 2))))
                      (local.get $tagB)))
                (then
                  (local.set $q (i32.add (local.get $base) (i32.shl (local.get $w) (i32.const 2))))
                  (br $found)))
              (local.set $w (i32.add (local.get $w) (i32.const 1)))
              (br $way)))))
      (if (i32.ge_s (local.get $q) (i32.const 0))
        (then
          ;; Hit: slots[q + 2*ways] = page base low | perm, slots[q + 3*ways] = page base high.
          (local.set $baseLo (i32.load (i32.add (local.get $q) (i32.shl (local.get $ways) (i32.const 3)))))
          (local.set $perm (i32.and (local.get $baseLo) (i32.const 3)))
          (i32.store offset=104 (global.get $blk) (local.get $L))
          (i32.store offset=108 (global.get $blk) (local.get $perm))
          (if (i32.eqz (i32.and (local.get $perm) (select (i32.const 2) (i32.const 1) (local.get $write))))
            (then (return (select (i32.const 0x05) (i32.const 0x06) (local.get $write)))))
          (local.set $offMask (i32.sub (i32.shl (i32.const 1) (i32.wrap_i64 (local.get $pageShift))) (i32.const 1)))
          (i32.store offset=96 (global.get $blk)
            (i32.or
              (i32.and (local.get $baseLo) (i32.xor (local.get $offMask) (i32.const -1)))
              (i32.and (i32.wrap_i64 (local.get $iova)) (local.get $offMask))))
          (i32.store offset=100 (global.get $blk)
            (i32.load (i32.add (local.get $q) (i32.mul (local.get $ways) (i32.const 12)))))
          (return (i32.const 0))))
      (local.set $L (i32.add (local.get $L) (i32.const 1)))
      (br_if $probe (i32.le_u (local.get $L) (i32.const 3))))
    (i32.const -1))

  ;; Caches the successful walk just done (result block) for (did, iova), FIFO victim per set.
  (func $fill (param $did i32) (param $iova i64)
    (local $L i32) (local $pageShift i64) (local $set i32) (local $x i64) (local $w i32) (local $q i32)
    (local $ways i32) (local $offMask i32)
    (local.set $ways (global.get $ways))
    (local.set $L (i32.load offset=104 (global.get $blk)))
    (local.set $pageShift (i64.extend_i32_u (i32.add (i32.const 3) (i32.mul (i32.const 9) (local.get $L)))))
    (local.set $set (i32.and (i32.wrap_i64 (i64.shr_u (local.get $iova) (local.get $pageShift))) (global.get $setMask)))
    (local.set $x (i64.shr_u (local.get $iova) (i64.add (local.get $pageShift) (global.get $setBits))))
    (local.set $w (i32.load8_u (i32.add (global.get $victim) (local.get $set))))
    (i32.store8 (i32.add (global.get $victim) (local.get $set))
      (select (i32.const 0) (i32.add (local.get $w) (i32.const 1))
        (i32.eq (i32.add (local.get $w) (i32.const 1)) (local.get $ways))))
    (local.set $q (i32.add (global.get $tlb)
      (i32.shl (i32.add (i32.mul (local.get $set) (i32.shl (local.get $ways) (i32.const 2))) (local.get $w)) (i32.const 2))))
    (local.set $offMask (i32.sub (i32.shl (i32.const 1) (i32.wrap_i64 (local.get $pageShift))) (i32.const 1)))
    (i32.store (local.get $q) (i32.or (i32.shl (i32.wrap_i64 (local.get $x)) (i32.const 2)) (local.get $L)))
    (i32.store (i32.add (local.get $q) (i32.shl (local.get $ways) (i32.const 2)))
      (i32.or (i32.shl (local.get $did) (i32.const 16))
        (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 30))) (i32.const 0xffff))))
    (i32.store (i32.add (local.get $q) (i32.shl (local.get $ways) (i32.const 3)))
      (i32.or
        (i32.and (i32.load offset=96 (global.get $blk)) (i32.xor (local.get $offMask) (i32.const -1)))
        (i32.and (i32.load offset=108 (global.get $blk)) (i32.const 3))))
    (i32.store (i32.add (local.get $q) (i32.mul (local.get $ways) (i32.const 12)))
      (i32.load offset=100 (global.get $blk))))

  ;; The translate step — range check, IOTLB probe, walk, fill — for a burst of $n requests of
  ;; one context, in order: IOVA i is the i64 at $reqs + 8i, its write flag the byte at
  ;; $writes + i. Result i, at $results + 8i: the translated address as an i64, or a fault as
  ;; (low dword = reason, high dword = 0xffffffff: no address has that high dword). The result
  ;; block describes the last request done. Returns the number of requests done: less than $n
  ;; when that request's walk left the table pool and must be walked in TypeScript (the caller
  ;; resumes the burst after it).
  ;;
  ;; One function for both entries (translate() is a burst of one), written as a loop so that a
  ;; burst costs no call per request: wasm-to-wasm calls are not inlined by the V8 of Node 20.
  (func $burst (param $did i32) (param $root i64) (param $levels i32) (param $widthBits i32)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (result i32)
    (local $i i32) (local $r i32) (local $iova i64) (local $write i32) (local $out i32)
    (local $hits i32) (local $misses i32) (local $fast4 i32) (local $shift1 i64) (local $didTag i32)
    (local $base i32) (local $x i64) (local $tagA i32) (local $tagB i32)
    (local $m0 i32) (local $m1 i32) (local $m2 i32) (local $m3 i32) (local $q i32) (local $baseLo i32) (local $perm i32)
    (local $lastFast i32) (local $tlb i32) (local $setMask i32)
    (local $w_off i64) (local $w_e i64) (local $w_perm i64) (local $w_need i64) (local $w_poolBytes i64)
    (local $w_poolHpa i64) (local $w_addrMask i64) (local $w_poolOff i32) (local $w_blk i32) (local $w_offMask i64) (local $w_level i32)
    ;; A 4-way IOTLB has its 4 KiB probe inlined below: a busy device's common case is a hit there.
    ;; Globals in locals: V8 reloads a mutable global at every use.
    (local.set $tlb (global.get $tlb))
    (local.set $setMask (global.get $setMask))
    ;; The pool does not grow during a burst.
    (local.set $w_poolBytes (i64.extend_i32_u (i32.load (global.get $poolBytesAt))))
    (local.set $w_poolHpa (global.get $poolHpa))
    (local.set $w_addrMask (global.get $addrMask))
    (local.set $w_poolOff (global.get $poolOff))
    (local.set $w_blk (global.get $blk))
    (local.set $fast4 (i32.and (i32.ne (local.get $tlb) (i32.const 0)) (i32.eq (global.get $ways) (i32.const 4))))
    (local.set $shift1 (i64.add (i64.const 12) (global.get $setBits)))
    (local.set $didTag (i32.shl (local.get $did) (i32.const 16)))
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $write (i32.load8_u (i32.add (local.get $writes) (local.get $i))))
        (local.set $out (i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $lastFast (i32.const 0))
        (local.set $r
          (block $step (result i32)
            (if (local.get $tlb)
              (then
                (if (local.get $fast4)
                  (then
                    ;; $lookup's 4 KiB probe for 4 ways. A set is 4 ways x 4 fields x 4 bytes = 64 bytes.
                    (local.set $base
                      (i32.add (local.get $tlb)
                        (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $iova) (i64.const 12))) (local.get $setMask)) (i32.const 6))))
                    (local.set $x (i64.shr_u (local.get $iova) (local.get $shift1)))
                    (local.set $tagA (i32.or (i32.shl (i32.wrap_i64 (local.get $x)) (i32.const 2)) (i32.const 1)))
                    (local.set $tagB
                      (i32.or (local.get $didTag) (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 30))) (i32.const 0xffff))))
                    ;; Branch-free: on a hot set the way that hits is unpredictable. At most one way
                    ;; matches (a fill only follows a miss for the same tag).
                    (local.set $m0 (i32.eqz (i32.or
                      (i32.xor (i32.load offset=0 (local.get $base)) (local.get $tagA))
                      (i32.xor (i32.load offset=16 (local.get $base)) (local.get $tagB)))))
                    (local.set $m1 (i32.eqz (i32.or
                      (i32.xor (i32.load offset=4 (local.get $base)) (local.get $tagA))
                      (i32.xor (i32.load offset=20 (local.get $base)) (local.get $tagB)))))
                    (local.set $m2 (i32.eqz (i32.or
                      (i32.xor (i32.load offset=8 (local.get $base)) (local.get $tagA))
                      (i32.xor (i32.load offset=24 (local.get $base)) (local.get $tagB)))))
                    (local.set $m3 (i32.eqz (i32.or
                      (i32.xor (i32.load offset=12 (local.get $base)) (local.get $tagA))
                      (i32.xor (i32.load offset=28 (local.get $base)) (local.get $tagB)))))
                    (if (i32.or (i32.or (local.get $m0) (local.get $m1)) (i32.or (local.get $m2) (local.get $m3)))
                      (then
                        ;; Hit: page base low | perm at +32, page base high at +48 from the way's tagA.
                        (local.set $q (i32.add (local.get $base)
                          (i32.shl (i32.or (i32.or (local.get $m1) (i32.shl (local.get $m2) (i32.const 1))) (i32.mul (local.get $m3) (i32.const 3)))
                            (i32.const 2))))
                        (local.set $baseLo (i32.load offset=32 (local.get $q)))
                        (local.set $perm (i32.and (local.get $baseLo) (i32.const 3)))
                        ;; Level 1, perm, hit: written to the result block at the end if this was the last request.
                        (local.set $lastFast (i32.const 1))
                        (local.set $hits (i32.add (local.get $hits) (i32.const 1)))
                        (drop (br_if $step (select (i32.const 0x05) (i32.const 0x06) (local.get $write))
                          (i32.eqz (i32.and (local.get $perm) (select (i32.const 2) (i32.const 1) (local.get $write))))))
                        (i32.store (local.get $out)
                          (i32.or (i32.and (local.get $baseLo) (i32.const 0xfffff000))
                            (i32.and (i32.wrap_i64 (local.get $iova)) (i32.const 0xfff))))
                        (i32.store offset=4 (local.get $out) (i32.load offset=48 (local.get $q)))
                        (br $step (i32.const 0))))
                    (local.set $r (call $lookup (local.get $did) (local.get $iova) (local.get $write) (i32.const 2))))
                  (else
                    (local.set $r (call $lookup (local.get $did) (local.get $iova) (local.get $write) (i32.const 1)))))
                (if (i32.ge_s (local.get $r) (i32.const 0))
                  (then
                    (local.set $hits (i32.add (local.get $hits) (i32.const 1)))
                    (i32.store offset=112 (global.get $blk) (i32.const 1))
                    (if (i32.eqz (local.get $r)) (then (i64.store (local.get $out) (i64.load offset=96 (global.get $blk)))))
                    (br $step (local.get $r))))
                (local.set $misses (i32.add (local.get $misses) (i32.const 1)))))
            (i32.store offset=112 (global.get $blk) (i32.const 0))
            ;; Range check on a miss, as QEMU does: vtd_do_iommu_translate looks up the IOTLB first and
            ;; vtd_iova_sl_range_check runs inside vtd_iova_to_slpte (hw/i386/intel_iommu.c).
            (if (i32.and (i32.lt_u (local.get $widthBits) (i32.const 64))
                  (i64.ne (i64.shr_u (local.get $iova) (i64.extend_i32_u (local.get $widthBits))) (i64.const 0)))
              (then
                (i32.store offset=104 (global.get $blk) (i32.const 0))
                (br $step (i32.const 0x04))))
            (local.set $r
              (if (result i32) (i32.eq (local.get $levels) (i32.const 4))
                (then
                  ;; The 4-level walk (48-bit AGAW, the common case) unrolled, inline: $walk's checks
                  ;; with the level constants folded in. Fewer instructions per walk let the CPU keep
                  ;; more walks' table reads in flight, which is what a walk-bound stream is limited by.
                  (block $walked (result i32)
                    (local.set $w_need (select (i64.const 2) (i64.const 1) (local.get $write)))
          (block $leaf
          (block $rsvd
          (block $fault
            ;; L4 (SL-PML4E), IOVA bits 47:39. PS is reserved here (in the L4 mask).
            (local.set $w_off (i64.sub (i64.add (local.get $root)
              (i64.and (i64.shr_u (local.get $iova) (i64.const 36)) (i64.const 0xff8))) (local.get $w_poolHpa)))
            (if (i64.ge_u (local.get $w_off) (local.get $w_poolBytes)) (then (br $walked (i32.const -1))))
            (local.set $w_e (i64.load (i32.add (local.get $w_poolOff) (i32.wrap_i64 (local.get $w_off)))))
            (local.set $w_perm (local.get $w_e))
            (local.set $w_level (i32.const 4))
            (br_if $fault (i64.eqz (i64.and (local.get $w_e) (local.get $w_need))))
            (if (i64.ne (i64.and (local.get $w_e) (i64.load offset=64 (local.get $w_blk))) (i64.const 0))
              (then (br $rsvd)))
            ;; L3 (SL-PDPTE), bits 38:30; PS=1 is a 1 GiB page where supported.
            (local.set $w_off (i64.sub (i64.add (i64.and (local.get $w_e) (local.get $w_addrMask))
              (i64.and (i64.shr_u (local.get $iova) (i64.const 27)) (i64.const 0xff8))) (local.get $w_poolHpa)))
            (if (i64.ge_u (local.get $w_off) (local.get $w_poolBytes)) (then (br $walked (i32.const -1))))
            (local.set $w_e (i64.load (i32.add (local.get $w_poolOff) (i32.wrap_i64 (local.get $w_off)))))
            (local.set $w_perm (i64.and (local.get $w_perm) (local.get $w_e)))
            (local.set $w_level (i32.const 3))
            (br_if $fault (i64.eqz (i64.and (local.get $w_e) (local.get $w_need))))
            (if (i32.and (i32.and (i32.wrap_i64 (i64.shr_u (local.get $w_e) (i64.const 7))) (i32.shr_u (global.get $largeOk) (i32.const 3))) (i32.const 1))
              (then
                (if (i64.ne (i64.and (local.get $w_e) (i64.load offset=56 (local.get $w_blk))) (i64.const 0))
                  (then (br $rsvd)))
                (local.set $w_offMask (i64.const 0x3fffffff))
                (br $leaf)))
            (if (i64.ne (i64.and (local.get $w_e) (i64.load offset=48 (local.get $w_blk))) (i64.const 0))
              (then (br $rsvd)))
            ;; L2 (SL-PDE), bits 29:21; PS=1 is a 2 MiB page where supported.
            (local.set $w_off (i64.sub (i64.add (i64.and (local.get $w_e) (local.get $w_addrMask))
              (i64.and (i64.shr_u (local.get $iova) (i64.const 18)) (i64.const 0xff8))) (local.get $w_poolHpa)))
            (if (i64.ge_u (local.get $w_off) (local.get $w_poolBytes)) (then (br $walked (i32.const -1))))
            (local.set $w_e (i64.load (i32.add (local.get $w_poolOff) (i32.wrap_i64 (local.get $w_off)))))
            (local.set $w_perm (i64.and (local.get $w_perm) (local.get $w_e)))
            (local.set $w_level (i32.const 2))
            (br_if $fault (i64.eqz (i64.and (local.get $w_e) (local.get $w_need))))
            (if (i32.and (i32.and (i32.wrap_i64 (i64.shr_u (local.get $w_e) (i64.const 7))) (i32.shr_u (global.get $largeOk) (i32.const 2))) (i32.const 1))
              (then
                (if (i64.ne (i64.and (local.get $w_e) (i64.load offset=40 (local.get $w_blk))) (i64.const 0))
                  (then (br $rsvd)))
                (local.set $w_offMask (i64.const 0x1fffff))
                (br $leaf)))
            (if (i64.ne (i64.and (local.get $w_e) (i64.load offset=32 (local.get $w_blk))) (i64.const 0))
              (then (br $rsvd)))
            ;; L1 (SL-PTE), bits 20:12.
            (local.set $w_off (i64.sub (i64.add (i64.and (local.get $w_e) (local.get $w_addrMask))
              (i64.and (i64.shr_u (local.get $iova) (i64.const 9)) (i64.const 0xff8))) (local.get $w_poolHpa)))
            (if (i64.ge_u (local.get $w_off) (local.get $w_poolBytes)) (then (br $walked (i32.const -1))))
            (local.set $w_e (i64.load (i32.add (local.get $w_poolOff) (i32.wrap_i64 (local.get $w_off)))))
            (local.set $w_perm (i64.and (local.get $w_perm) (local.get $w_e)))
            (local.set $w_level (i32.const 1))
            (br_if $fault (i64.eqz (i64.and (local.get $w_e) (local.get $w_need))))
            (if (i64.ne (i64.and (local.get $w_e) (i64.load offset=16 (local.get $w_blk))) (i64.const 0))
              (then (br $rsvd)))
            (local.set $w_offMask (i64.const 0xfff))
            (br $leaf))
          ;; A missing R or W bit at $w_level.
          (i32.store offset=104 (local.get $w_blk) (local.get $w_level))
          (br $walked (select (i32.const 0x05) (i32.const 0x06) (local.get $write))))
          ;; Reserved bits set in the entry at $w_level.
          (i32.store offset=104 (local.get $w_blk) (local.get $w_level))
          (br $walked (i32.const 0x0c)))
          ;; The leaf at $w_level: the page base plus the IOVA's offset in the page.
          (i64.store offset=96 (local.get $w_blk)
            (i64.or
              (i64.and (i64.and (local.get $w_e) (local.get $w_addrMask)) (i64.xor (local.get $w_offMask) (i64.const -1)))
              (i64.and (local.get $iova) (local.get $w_offMask))))
          (i32.store offset=104 (local.get $w_blk) (local.get $w_level))
          (i32.store offset=108 (local.get $w_blk) (i32.wrap_i64 (i64.and (local.get $w_perm) (i64.const 3))))
          (i32.const 0)))
                (else (call $walk (local.get $root) (local.get $levels) (local.get $iova) (local.get $write)))))
            ;; (br_if with a value leaves it on the stack when not taken)
            (drop (br_if $step (local.get $r) (local.get $r)))
            (if (local.get $tlb) (then (call $fill (local.get $did) (local.get $iova))))
            (i64.store (local.get $out) (i64.load offset=96 (global.get $blk)))
            (i32.const 0)))
        (br_if $exit (i32.lt_s (local.get $r) (i32.const 0)))
        (if (local.get $r)
          (then
            (i32.store (local.get $out) (local.get $r))
            (i32.store offset=4 (local.get $out) (i32.const -1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store offset=116 (global.get $blk) (i32.add (i32.load offset=116 (global.get $blk)) (local.get $hits)))
    (i32.store offset=120 (global.get $blk) (i32.add (i32.load offset=120 (global.get $blk)) (local.get $misses)))
    ;; The result block describes the last request done, as after translate(): a hit of the inlined
    ;; probe wrote nothing there (every other path did), and the address is the last success's.
    (if (local.get $lastFast)
      (then
        (i32.store offset=104 (global.get $blk) (i32.const 1))
        (i32.store offset=108 (global.get $blk) (local.get $perm))
        (i32.store offset=112 (global.get $blk) (i32.const 1))))
    (if (local.get $i)
      (then
        (local.set $out (i32.add (local.get $results) (i32.shl (i32.sub (local.get $i) (i32.const 1)) (i32.const 3))))
        (if (i32.ne (i32.load offset=4 (local.get $out)) (i32.const -1))
          (then (i64.store offset=96 (global.get $blk) (i64.load (local.get $out)))))))
    (local.get $i))

;; ---- Bursts of the two common configurations ------------------------------------------------
  ;; $burst handles every configuration, so its loop keeps some thirty values live and V8 spills
  ;; many of them to the stack: loads and stores on every request. These two loops do only what
  ;; their configuration needs, with few enough values to stay in registers, and hand everything
  ;; else to $burst one request at a time. Their results, counters and IOTLB state are exactly
  ;; $burst's (test/unit/slpt.test.ts runs both against translate()).

;; A 4-way IOTLB: requests that hit its 4 KiB entries are answered by $hitRun4 in a few
  ;; instructions each; each other request (a miss, or an IOVA beyond the width) is a burst of one
  ;; through $burst, which probes again (still one miss counted), walks and fills. The two are
  ;; separate functions because V8 spills every value live across a call: a call in the hit loop
  ;; would cost it a dozen stack loads and stores per request.
  (func $burstProbe4 (param $did i32) (param $root i64) (param $levels i32) (param $widthBits i32)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (result i32)
    (local $i i32) (local $j i32) (local $k i32) (local $out i32)
    (block $exit
      (loop $next
        (local.set $j (call $hitRun4 (local.get $did) (local.get $widthBits) (local.get $reqs) (local.get $writes)
          (local.get $i) (local.get $n) (local.get $results)))
        (i32.store offset=116 (global.get $blk)
          (i32.add (i32.load offset=116 (global.get $blk)) (i32.sub (local.get $j) (local.get $i))))
        (if (i32.ge_u (local.get $j) (local.get $n))
          (then
            ;; The burst ended on a hit: the result block describes it, as $burst would leave it.
            (if (i32.gt_u (local.get $j) (local.get $i))
              (then
                (local.set $out (i32.add (local.get $results) (i32.shl (i32.sub (local.get $j) (i32.const 1)) (i32.const 3))))
                (i32.store offset=104 (global.get $blk) (i32.const 1))
                (i32.store offset=108 (global.get $blk) (global.get $lastPerm))
                (i32.store offset=112 (global.get $blk) (i32.const 1))
                (if (i32.ne (i32.load offset=4 (local.get $out)) (i32.const -1))
                  (then (i64.store offset=96 (global.get $blk) (i64.load (local.get $out)))))))
            (return (local.get $j))))
        (if (i32.eq (local.get $levels) (i32.const 4))
          (then
            ;; Until the next 4 KiB hit; stops at a request whose walk left the pool.
            (local.set $k (call $burstTlb4 (local.get $did) (local.get $root) (local.get $widthBits)
              (local.get $reqs) (local.get $writes) (local.get $j) (local.get $n) (local.get $results)))
            (if (i32.lt_s (local.get $k) (i32.const 0)) (then (return (i32.sub (i32.const -1) (local.get $k)))))
            (local.set $i (local.get $k)))
          (else
            (br_if $exit
              (i32.eqz (call $burst (local.get $did) (local.get $root) (local.get $levels) (local.get $widthBits)
                (i32.add (local.get $reqs) (i32.shl (local.get $j) (i32.const 3))) (i32.add (local.get $writes) (local.get $j))
                (i32.const 1) (i32.add (local.get $results) (i32.shl (local.get $j) (i32.const 3))))))
            (local.set $i (i32.add (local.get $j) (i32.const 1)))))
        (br_if $next (i32.lt_u (local.get $i) (local.get $n)))
        (return (local.get $i))))
    ;; Request $j left the table pool.
    (local.get $j))

  ;; Answers requests $i, $i + 1, ... while they hit a 4 KiB entry of the 4-way IOTLB; returns the
  ;; index of the first that does not ($n when all did). Every request answered is one IOTLB hit.
  ;; The permission of the last hit is left in $lastPerm.
  (func $hitRun4 (param $did i32) (param $widthBits i32) (param $reqs i32) (param $writes i32)
    (param $i i32) (param $n i32) (param $results i32) (result i32)
    (local $iova i64) (local $write i32) (local $out i32) (local $base i32) (local $x i64) (local $tagA i32)
    (local $tagB i32) (local $q i32) (local $baseLo i32) (local $tlb i32) (local $setMask6 i64) (local $shift1 i64)
    (local $didTag i32) (local $width i64)
    (local.set $tlb (global.get $tlb))
    (local.set $setMask6 (i64.shl (i64.extend_i32_u (global.get $setMask)) (i64.const 6)))
    (local.set $shift1 (i64.add (i64.const 12) (global.get $setBits)))
    (local.set $didTag (i32.shl (local.get $did) (i32.const 16)))
    (local.set $width (i64.extend_i32_u (local.get $widthBits)))
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        ;; The set: 4 ways x 4 fields x 4 bytes = 64 bytes.
        (local.set $base
          (i32.add (local.get $tlb) (i32.wrap_i64 (i64.and (i64.shr_u (local.get $iova) (i64.const 6)) (local.get $setMask6)))))
        (local.set $x (i64.shr_u (local.get $iova) (local.get $shift1)))
        (local.set $tagA (i32.or (i32.shl (i32.wrap_i64 (local.get $x)) (i32.const 2)) (i32.const 1)))
        (local.set $tagB
          (i32.or (local.get $didTag) (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 30))) (i32.const 0xffff))))
        ;; The 4 ways compared at once, as the hardware's CAM does: the set keeps each field of its
        ;; ways side by side, so tagA of ways 0-3 is one 128-bit load and tagB the next. At most one
        ;; way matches (a fill only follows a miss for the same tag).
        (local.set $q
          (i32x4.bitmask
            (v128.and
              (i32x4.eq (v128.load offset=0 (local.get $base)) (i32x4.splat (local.get $tagA)))
              (i32x4.eq (v128.load offset=16 (local.get $base)) (i32x4.splat (local.get $tagB))))))
        (br_if $exit (i32.eqz (local.get $q)))
        ;; Hit: the way's page base low | perm is at +32 from its tag, the base's high dword at +48.
        (local.set $q (i32.add (local.get $base) (i32.shl (i32.ctz (local.get $q)) (i32.const 2))))
        (local.set $baseLo (i32.load offset=32 (local.get $q)))
        (local.set $write (i32.load8_u (i32.add (local.get $writes) (local.get $i))))
        (local.set $out (i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3))))
        ;; The access needs R (bit 0) for a read, W (bit 1) for a write: 1 + write. Without it the
        ;; hit faults, 0x06 (read) or 0x05 (write): 6 - write.
        (if (i32.and (local.get $baseLo) (i32.add (local.get $write) (i32.const 1)))
          (then
            (i32.store (local.get $out)
              (i32.or (i32.and (local.get $baseLo) (i32.const 0xfffff000))
                (i32.and (i32.wrap_i64 (local.get $iova)) (i32.const 0xfff))))
            (i32.store offset=4 (local.get $out) (i32.load offset=48 (local.get $q))))
          (else
            (i32.store (local.get $out) (i32.sub (i32.const 6) (local.get $write)))
            (i32.store offset=4 (local.get $out) (i32.const -1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (global.set $lastPerm (i32.and (local.get $baseLo) (i32.const 3)))
    (local.get $i))

;; A 4-way IOTLB and 4 levels (the DMAR unit's 48-bit domains), from request $i: the whole step
  ;; in one loop with no call — probes of the three page sizes with one SIMD compare each, the
  ;; unrolled walk, the fill — so that nothing is spilled across a call and a walk-bound stream
  ;; keeps several walks' table reads in flight. $burstProbe4 runs it for the requests its hit loop
  ;; cannot answer; it hands back at the fourth 4 KiB hit in a row (returns that request's index), at $n, or
  ;; at a request whose walk leaves the table pool (returns -1 - its index; its miss is counted).
  ;; The results' low dwords leave the block $word0 (a fault reason or the address's low dword).
  (func $burstTlb4 (param $did i32) (param $root i64) (param $widthBits i32)
    (param $reqs i32) (param $writes i32) (param $i i32) (param $n i32) (param $results i32) (result i32)
    (local $start i32) (local $iova i64) (local $write i32) (local $need i64) (local $out i32)
    (local $L i32) (local $shift i64) (local $base i32) (local $x i64) (local $q i32) (local $baseLo i32) (local $offMask32 i32)
    (local $e i64) (local $off i64) (local $offMask i64) (local $perm i64) (local $hpa i64)
    (local $hits i32) (local $misses i32) (local $lastLevel i32) (local $lastPerm i32) (local $lastHit i32)
    (local $tlb i32) (local $setMask i32) (local $setBits i64) (local $didTag i32) (local $width i64) (local $victim i32)
    (local $poolBytes i64) (local $poolHpa i64) (local $poolOff i32) (local $addrMask i64) (local $blk i32)
    (local $large3 i32) (local $large2 i32) (local $set i32) (local $w i32) (local $hitRun i32)
    (local.set $tlb (global.get $tlb))
    (local.set $victim (global.get $victim))
    (local.set $setMask (global.get $setMask))
    (local.set $setBits (global.get $setBits))
    (local.set $didTag (i32.shl (local.get $did) (i32.const 16)))
    (local.set $width (i64.extend_i32_u (local.get $widthBits)))
    (local.set $poolBytes (i64.extend_i32_u (i32.load (global.get $poolBytesAt))))
    (local.set $poolHpa (global.get $poolHpa))
    (local.set $poolOff (global.get $poolOff))
    (local.set $addrMask (global.get $addrMask))
    (local.set $blk (global.get $blk))
    (local.set $large3 (i32.and (i32.shr_u (global.get $largeOk) (i32.const 3)) (i32.const 1)))
    (local.set $large2 (i32.and (i32.shr_u (global.get $largeOk) (i32.const 2)) (i32.const 1)))
    (local.set $start (local.get $i))
    (block $pool
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $write (i32.load8_u (i32.add (local.get $writes) (local.get $i))))
        ;; The access needs R (bit 0) for a read, W (bit 1) for a write: 1 + write. Without it the
        ;; request faults, 0x06 (read) or 0x05 (write): 6 - write.
        (local.set $need (i64.extend_i32_u (i32.add (local.get $write) (i32.const 1))))
        (local.set $out (i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3))))
        (i32.store offset=4 (local.get $out) (i32.const -1))
        (i32.store (local.get $out)
          (block $word0 (result i32)
            (local.set $lastHit (i32.const 0))
            (local.set $lastLevel (i32.const 0))
            ;; IOTLB probes: 4 KiB, then 2 MiB, then 1 GiB (key = iova >> shift; tags as $lookup).
            (local.set $L (i32.const 1))
            (local.set $shift (i64.const 12))
            (loop $probe
              (local.set $base
                (i32.add (local.get $tlb)
                  (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $iova) (local.get $shift))) (local.get $setMask)) (i32.const 6))))
              (local.set $x (i64.shr_u (local.get $iova) (i64.add (local.get $shift) (local.get $setBits))))
              ;; The set keeps each field of its 4 ways side by side: tagA of ways 0-3 is one 128-bit
              ;; load, tagB the next; they are compared at once, as the hardware's CAM does. At most
              ;; one way matches (a fill only follows a miss for the same tag).
              (local.set $q
                (i32x4.bitmask
                  (v128.and
                    (i32x4.eq (v128.load offset=0 (local.get $base))
                      (i32x4.splat (i32.or (i32.shl (i32.wrap_i64 (local.get $x)) (i32.const 2)) (local.get $L))))
                    (i32x4.eq (v128.load offset=16 (local.get $base))
                      (i32x4.splat (i32.or (local.get $didTag)
                        (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 30))) (i32.const 0xffff))))))))
              (if (local.get $q)
                (then
                  ;; The fourth 4 KiB hit in a row: back to $hitRun4, whose loop answers runs of hits
                  ;; faster. (Handing back at every 4 KiB hit cost two calls per switch, and a
                  ;; stream with hits and misses interleaved, as W3 of the benchmark, switched
                  ;; every few requests.)
                  (if (i32.eq (local.get $L) (i32.const 1))
                    (then
                      (br_if $exit (i32.and (i32.ge_u (local.get $hitRun) (i32.const 3)) (i32.ne (local.get $i) (local.get $start))))
                      (local.set $hitRun (i32.add (local.get $hitRun) (i32.const 1)))))
                  ;; Hit: the way's page base low | perm is at +32 from its tag, the base's high dword at +48.
                  (local.set $q (i32.add (local.get $base) (i32.shl (i32.ctz (local.get $q)) (i32.const 2))))
                  (local.set $baseLo (i32.load offset=32 (local.get $q)))
                  (local.set $hits (i32.add (local.get $hits) (i32.const 1)))
                  (local.set $lastHit (i32.const 1))
                  (local.set $lastLevel (local.get $L))
                  (local.set $lastPerm (i32.and (local.get $baseLo) (i32.const 3)))
                  (br_if $word0 (i32.sub (i32.const 6) (local.get $write))
                    (i32.eqz (i32.and (local.get $baseLo) (i32.wrap_i64 (local.get $need)))))
                  (drop)
                  (local.set $offMask32 (i32.sub (i32.shl (i32.const 1) (i32.wrap_i64 (local.get $shift))) (i32.const 1)))
                  (i32.store offset=4 (local.get $out) (i32.load offset=48 (local.get $q)))
                  (br $word0
                    (i32.or (i32.and (local.get $baseLo) (i32.xor (local.get $offMask32) (i32.const -1)))
                      (i32.and (i32.wrap_i64 (local.get $iova)) (local.get $offMask32))))))
              (local.set $L (i32.add (local.get $L) (i32.const 1)))
              (local.set $shift (i64.add (local.get $shift) (i64.const 9)))
              (br_if $probe (i32.le_u (local.get $L) (i32.const 3))))
            (local.set $misses (i32.add (local.get $misses) (i32.const 1)))
            (local.set $hitRun (i32.const 0))
            ;; The range check on a miss (QEMU order: IOTLB first, see $burst).
            (br_if $word0 (i32.const 0x04) (i64.ne (i64.shr_u (local.get $iova) (local.get $width)) (i64.const 0)))
            (drop)
            ;; The walk: $burstWalk4's, also ANDing the permissions for the fill.
            (block $leaf
              ;; L4 (SL-PML4E), IOVA bits 47:39.
              (local.set $lastLevel (i32.const 4))
              (local.set $off (i64.sub (i64.add (local.get $root)
                (i64.and (i64.shr_u (local.get $iova) (i64.const 36)) (i64.const 0xff8))) (local.get $poolHpa)))
              (br_if $pool (i64.ge_u (local.get $off) (local.get $poolBytes)))
              (local.set $e (i64.load (i32.add (local.get $poolOff) (i32.wrap_i64 (local.get $off)))))
              (local.set $perm (local.get $e))
              (br_if $word0 (i32.sub (i32.const 6) (local.get $write)) (i64.eqz (i64.and (local.get $e) (local.get $need))))
              (drop)
              (br_if $word0 (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=64 (local.get $blk))) (i64.const 0)))
              (drop)
              ;; L3 (SL-PDPTE), bits 38:30; PS=1 is a 1 GiB page where supported.
              (local.set $lastLevel (i32.const 3))
              (local.set $off (i64.sub (i64.add (i64.and (local.get $e) (local.get $addrMask))
                (i64.and (i64.shr_u (local.get $iova) (i64.const 27)) (i64.const 0xff8))) (local.get $poolHpa)))
              (br_if $pool (i64.ge_u (local.get $off) (local.get $poolBytes)))
              (local.set $e (i64.load (i32.add (local.get $poolOff) (i32.wrap_i64 (local.get $off)))))
              (local.set $perm (i64.and (local.get $perm) (local.get $e)))
              (br_if $word0 (i32.sub (i32.const 6) (local.get $write)) (i64.eqz (i64.and (local.get $e) (local.get $need))))
              (drop)
              (if (i32.and (i32.wrap_i64 (i64.shr_u (local.get $e) (i64.const 7))) (local.get $large3))
                (then
                  (br_if $word0 (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=56 (local.get $blk))) (i64.const 0)))
                  (drop)
                  (local.set $offMask (i64.const 0x3fffffff))
                  (br $leaf)))
              (br_if $word0 (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=48 (local.get $blk))) (i64.const 0)))
              (drop)
              ;; L2 (SL-PDE), bits 29:21; PS=1 is a 2 MiB page where supported.
              (local.set $lastLevel (i32.const 2))
              (local.set $off (i64.sub (i64.add (i64.and (local.get $e) (local.get $addrMask))
                (i64.and (i64.shr_u (local.get $iova) (i64.const 18)) (i64.const 0xff8))) (local.get $poolHpa)))
              (br_if $pool (i64.ge_u (local.get $off) (local.get $poolBytes)))
              (local.set $e (i64.load (i32.add (local.get $poolOff) (i32.wrap_i64 (local.get $off)))))
              (local.set $perm (i64.and (local.get $perm) (local.get $e)))
              (br_if $word0 (i32.sub (i32.const 6) (local.get $write)) (i64.eqz (i64.and (local.get $e) (local.get $need))))
              (drop)
              (if (i32.and (i32.wrap_i64 (i64.shr_u (local.get $e) (i64.const 7))) (local.get $large2))
                (then
                  (br_if $word0 (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=40 (local.get $blk))) (i64.const 0)))
                  (drop)
                  (local.set $offMask (i64.const 0x1fffff))
                  (br $leaf)))
              (br_if $word0 (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=32 (local.get $blk))) (i64.const 0)))
              (drop)
              ;; L1 (SL-PTE), bits 20:12.
              (local.set $lastLevel (i32.const 1))
              (local.set $off (i64.sub (i64.add (i64.and (local.get $e) (local.get $addrMask))
                (i64.and (i64.shr_u (local.get $iova) (i64.const 9)) (i64.const 0xff8))) (local.get $poolHpa)))
              (br_if $pool (i64.ge_u (local.get $off) (local.get $poolBytes)))
              (local.set $e (i64.load (i32.add (local.get $poolOff) (i32.wrap_i64 (local.get $off)))))
              (local.set $perm (i64.and (local.get $perm) (local.get $e)))
              (br_if $word0 (i32.sub (i32.const 6) (local.get $write)) (i64.eqz (i64.and (local.get $e) (local.get $need))))
              (drop)
              (br_if $word0 (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=16 (local.get $blk))) (i64.const 0)))
              (drop)
              (local.set $offMask (i64.const 0xfff)))
            ;; The leaf at $lastLevel: the page base plus the IOVA's offset in the page.
            (local.set $lastPerm (i32.and (i32.wrap_i64 (local.get $perm)) (i32.const 3)))
            (local.set $hpa
              (i64.or
                (i64.and (i64.and (local.get $e) (local.get $addrMask)) (i64.xor (local.get $offMask) (i64.const -1)))
                (i64.and (local.get $iova) (local.get $offMask))))
            ;; Fill ($fill's rules): key = iova >> shift of the leaf's level, FIFO victim way of its set.
            (local.set $shift (i64.extend_i32_u (i32.add (i32.const 3) (i32.mul (i32.const 9) (local.get $lastLevel)))))
            (local.set $set (i32.and (i32.wrap_i64 (i64.shr_u (local.get $iova) (local.get $shift))) (local.get $setMask)))
            (local.set $x (i64.shr_u (local.get $iova) (i64.add (local.get $shift) (local.get $setBits))))
            (local.set $w (i32.load8_u (i32.add (local.get $victim) (local.get $set))))
            (i32.store8 (i32.add (local.get $victim) (local.get $set)) (i32.and (i32.add (local.get $w) (i32.const 1)) (i32.const 3)))
            (local.set $q (i32.add (local.get $tlb) (i32.add (i32.shl (local.get $set) (i32.const 6)) (i32.shl (local.get $w) (i32.const 2)))))
            (i32.store offset=0 (local.get $q) (i32.or (i32.shl (i32.wrap_i64 (local.get $x)) (i32.const 2)) (local.get $lastLevel)))
            (i32.store offset=16 (local.get $q)
              (i32.or (local.get $didTag) (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 30))) (i32.const 0xffff))))
            (i32.store offset=32 (local.get $q)
              (i32.or (i32.and (i32.wrap_i64 (local.get $hpa)) (i32.xor (i32.wrap_i64 (local.get $offMask)) (i32.const -1)))
                (local.get $lastPerm)))
            (i32.store offset=48 (local.get $q) (i32.wrap_i64 (i64.shr_u (local.get $hpa) (i64.const 32))))
            (i32.store offset=4 (local.get $out) (i32.wrap_i64 (i64.shr_u (local.get $hpa) (i64.const 32))))
            (i32.wrap_i64 (local.get $hpa))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    ;; Done, or stopped at a 4 KiB hit: the block describes the last request done, as after $burst.
    (i32.store offset=116 (local.get $blk) (i32.add (i32.load offset=116 (local.get $blk)) (local.get $hits)))
    (i32.store offset=120 (local.get $blk) (i32.add (i32.load offset=120 (local.get $blk)) (local.get $misses)))
    (if (i32.and (i32.eq (local.get $i) (local.get $n)) (i32.gt_u (local.get $n) (local.get $start)))
      (then
        (i32.store offset=104 (local.get $blk) (local.get $lastLevel))
        (i32.store offset=108 (local.get $blk) (local.get $lastPerm))
        (i32.store offset=112 (local.get $blk) (local.get $lastHit))
        (if (i32.ne (i32.load offset=4 (local.get $out)) (i32.const -1))
          (then (i64.store offset=96 (local.get $blk) (i64.load (local.get $out)))))))
    (return (local.get $i)))
    ;; Stopped at request $i, whose walk left the table pool (its miss counted): the caller walks it
    ;; and fills the result block.
    (i32.store offset=116 (local.get $blk) (i32.add (i32.load offset=116 (local.get $blk)) (local.get $hits)))
    (i32.store offset=120 (local.get $blk) (i32.add (i32.load offset=120 (local.get $blk)) (local.get $misses)))
    (i32.sub (i32.const -1) (local.get $i)))

  ;; No IOTLB, 4 levels: $burst's unrolled walk alone (every request walks, as W1 of the
  ;; benchmark and a unit without an IOTLB do). The level a fault was found at and the leaf's
  ;; permissions are not kept per request; the last request goes through $burst again at the end
  ;; (no IOTLB: it changes nothing but the result block) so that the block describes it.
  (func $burstWalk4 (param $did i32) (param $root i64) (param $widthBits i32)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (result i32)
    (local $i i32) (local $iova i64) (local $need i64) (local $out i32) (local $e i64) (local $off i64)
    (local $offMask i64) (local $width i64) (local $poolBytes i64) (local $poolHpa i64) (local $poolOff i32)
    (local $addrMask i64) (local $blk i32) (local $large3 i32) (local $large2 i32)
    (local.set $width (i64.extend_i32_u (local.get $widthBits)))
    (local.set $poolBytes (i64.extend_i32_u (i32.load (global.get $poolBytesAt))))
    (local.set $poolHpa (global.get $poolHpa))
    (local.set $poolOff (global.get $poolOff))
    (local.set $addrMask (global.get $addrMask))
    (local.set $blk (global.get $blk))
    (local.set $large3 (i32.and (i32.shr_u (global.get $largeOk) (i32.const 3)) (i32.const 1)))
    (local.set $large2 (i32.and (i32.shr_u (global.get $largeOk) (i32.const 2)) (i32.const 1)))
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $iova (i64.load (i32.add (local.get $reqs) (i32.shl (local.get $i) (i32.const 3)))))
        ;; need = 1 + write: R (bit 0) for a read, W (bit 1) for a write.
        (local.set $need (i64.extend_i32_u (i32.add (i32.const 1) (i32.load8_u (i32.add (local.get $writes) (local.get $i))))))
        (local.set $out (i32.add (local.get $results) (i32.shl (local.get $i) (i32.const 3))))
        (i32.store offset=4 (local.get $out) (i32.const -1))
        (i32.store (local.get $out)
          (block $fault (result i32)
            (block $leaf
              (br_if $fault (i32.const 0x04) (i64.ne (i64.shr_u (local.get $iova) (local.get $width)) (i64.const 0)))
              (drop)
              ;; The checks of $burst's unrolled walk, level by level; the permission ANDed down the
              ;; levels matters only for which bit is missing, so it is tested at each level.
              ;; L4 (SL-PML4E), IOVA bits 47:39.
              (local.set $off (i64.sub (i64.add (local.get $root)
                (i64.and (i64.shr_u (local.get $iova) (i64.const 36)) (i64.const 0xff8))) (local.get $poolHpa)))
              (br_if $exit (i64.ge_u (local.get $off) (local.get $poolBytes)))
              (local.set $e (i64.load (i32.add (local.get $poolOff) (i32.wrap_i64 (local.get $off)))))
              (br_if $fault (i32.sub (i32.const 7) (i32.wrap_i64 (local.get $need))) (i64.eqz (i64.and (local.get $e) (local.get $need))))
              (drop)
              (br_if $fault (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=64 (local.get $blk))) (i64.const 0)))
              (drop)
              ;; L3 (SL-PDPTE), bits 38:30; PS=1 is a 1 GiB page where supported.
              (local.set $off (i64.sub (i64.add (i64.and (local.get $e) (local.get $addrMask))
                (i64.and (i64.shr_u (local.get $iova) (i64.const 27)) (i64.const 0xff8))) (local.get $poolHpa)))
              (br_if $exit (i64.ge_u (local.get $off) (local.get $poolBytes)))
              (local.set $e (i64.load (i32.add (local.get $poolOff) (i32.wrap_i64 (local.get $off)))))
              (br_if $fault (i32.sub (i32.const 7) (i32.wrap_i64 (local.get $need))) (i64.eqz (i64.and (local.get $e) (local.get $need))))
              (drop)
              (if (i32.and (i32.wrap_i64 (i64.shr_u (local.get $e) (i64.const 7))) (local.get $large3))
                (then
                  (br_if $fault (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=56 (local.get $blk))) (i64.const 0)))
                  (drop)
                  (local.set $offMask (i64.const 0x3fffffff))
                  (br $leaf)))
              (br_if $fault (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=48 (local.get $blk))) (i64.const 0)))
              (drop)
              ;; L2 (SL-PDE), bits 29:21; PS=1 is a 2 MiB page where supported.
              (local.set $off (i64.sub (i64.add (i64.and (local.get $e) (local.get $addrMask))
                (i64.and (i64.shr_u (local.get $iova) (i64.const 18)) (i64.const 0xff8))) (local.get $poolHpa)))
              (br_if $exit (i64.ge_u (local.get $off) (local.get $poolBytes)))
              (local.set $e (i64.load (i32.add (local.get $poolOff) (i32.wrap_i64 (local.get $off)))))
              (br_if $fault (i32.sub (i32.const 7) (i32.wrap_i64 (local.get $need))) (i64.eqz (i64.and (local.get $e) (local.get $need))))
              (drop)
              (if (i32.and (i32.wrap_i64 (i64.shr_u (local.get $e) (i64.const 7))) (local.get $large2))
                (then
                  (br_if $fault (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=40 (local.get $blk))) (i64.const 0)))
                  (drop)
                  (local.set $offMask (i64.const 0x1fffff))
                  (br $leaf)))
              (br_if $fault (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=32 (local.get $blk))) (i64.const 0)))
              (drop)
              ;; L1 (SL-PTE), bits 20:12.
              (local.set $off (i64.sub (i64.add (i64.and (local.get $e) (local.get $addrMask))
                (i64.and (i64.shr_u (local.get $iova) (i64.const 9)) (i64.const 0xff8))) (local.get $poolHpa)))
              (br_if $exit (i64.ge_u (local.get $off) (local.get $poolBytes)))
              (local.set $e (i64.load (i32.add (local.get $poolOff) (i32.wrap_i64 (local.get $off)))))
              (br_if $fault (i32.sub (i32.const 7) (i32.wrap_i64 (local.get $need))) (i64.eqz (i64.and (local.get $e) (local.get $need))))
              (drop)
              (br_if $fault (i32.const 0x0c) (i64.ne (i64.and (local.get $e) (i64.load offset=16 (local.get $blk))) (i64.const 0)))
              (drop)
              (local.set $offMask (i64.const 0xfff)))
            ;; The leaf: the page base plus the IOVA's offset in the page.
            (i64.store (local.get $out)
              (i64.or
                (i64.and (i64.and (local.get $e) (local.get $addrMask)) (i64.xor (local.get $offMask) (i64.const -1)))
                (i64.and (local.get $iova) (local.get $offMask))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    ;; Stopped early at request $i (its walk left the pool): the caller walks it, and $burst does
    ;; not describe it. Otherwise the last request again, through $burst, for the result block.
    (if (i32.and (i32.eq (local.get $i) (local.get $n)) (i32.gt_u (local.get $n) (i32.const 0)))
      (then
        (drop (call $burst (local.get $did) (local.get $root) (i32.const 4) (local.get $widthBits)
          (i32.add (local.get $reqs) (i32.shl (i32.sub (local.get $n) (i32.const 1)) (i32.const 3)))
          (i32.add (local.get $writes) (i32.sub (local.get $n) (i32.const 1)))
          (i32.const 1) (i32.add (local.get $blk) (i32.const 152))))))
    (local.get $i))

  ;; One request: a burst of one through the block's scratch request. The IOVA and the root
  ;; arrive as numbers JavaScript passes without allocating (i64 parameters would be BigInts):
  ;; the IOVA as uint32 halves, the root as a double. 0, a fault reason, or -1 (left the pool).
  (func (export "translate")
    (param $did i32) (param $root f64) (param $levels i32) (param $widthBits i32)
    (param $iovaHi i32) (param $iovaLo i32) (param $write i32) (result i32)
    (local $blk i32)
    (local.set $blk (global.get $blk))
    (i64.store offset=128 (local.get $blk)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $iovaHi)) (i64.const 32)) (i64.extend_i32_u (local.get $iovaLo))))
    (i32.store8 offset=136 (local.get $blk) (local.get $write))
    (if (i32.eqz
          (call $burst (local.get $did) (i64.trunc_f64_u (local.get $root)) (local.get $levels) (local.get $widthBits)
            (i32.add (local.get $blk) (i32.const 128)) (i32.add (local.get $blk) (i32.const 136)) (i32.const 1)
            (i32.add (local.get $blk) (i32.const 144))))
      (then (return (i32.const -1))))
    (select (i32.load offset=144 (local.get $blk)) (i32.const 0) (i32.eq (i32.load offset=148 (local.get $blk)) (i32.const -1))))

  ;; A burst (see $burst), through the loop of its configuration.
  (func (export "translateBatch")
    (param $did i32) (param $root f64) (param $levels i32) (param $widthBits i32)
    (param $reqs i32) (param $writes i32) (param $n i32) (param $results i32) (result i32)
    (if (i32.lt_u (local.get $widthBits) (i32.const 64))
      (then
        (if (i32.and (i32.ne (global.get $tlb) (i32.const 0)) (i32.eq (global.get $ways) (i32.const 4)))
          (then
            (return (call $burstProbe4 (local.get $did) (i64.trunc_f64_u (local.get $root)) (local.get $levels) (local.get $widthBits)
              (local.get $reqs) (local.get $writes) (local.get $n) (local.get $results)))))
        (if (i32.and (i32.eqz (global.get $tlb)) (i32.eq (local.get $levels) (i32.const 4)))
          (then
            (return (call $burstWalk4 (local.get $did) (i64.trunc_f64_u (local.get $root)) (local.get $widthBits)
              (local.get $reqs) (local.get $writes) (local.get $n) (local.get $results)))))))
    (call $burst (local.get $did) (i64.trunc_f64_u (local.get $root)) (local.get $levels) (local.get $widthBits)
      (local.get $reqs) (local.get $writes) (local.get $n) (local.get $results)))
)
