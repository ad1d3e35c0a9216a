// The part of the WebAssembly JavaScript API the simulator uses (the translate core). It is a
// global in every host the pure layers run in (Node, worker_threads, Web Workers), but the
// project's `lib` (ES2022, no DOM) does not declare it. Same shapes as TypeScript's lib.dom.d.ts.
declare namespace WebAssembly {
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  class Module {
    constructor(bytes: Uint8Array);
  }
  type Imports = Record<string, Record<string, Memory | ((...args: number[]) => number | void)>>;
  class Instance {
    constructor(module: Module, importObject?: Imports);
    readonly exports: Record<string, unknown>;
  }
}
