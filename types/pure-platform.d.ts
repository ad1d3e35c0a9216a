// The few globals the pure layers use that every host they run in provides (Node >= 20,
// worker_threads, browser Web Workers) but ES2022's lib does not declare: declared here for
// tsconfig.pure.json only (the other configs get them from @types/node or lib.dom), with the
// shapes of lib.dom.d.ts. Anything else (process, Buffer, require, document, window) stays an
// error in the pure layers. Add to this list only what a Web Worker also has.
declare function setTimeout(handler: () => void, timeout?: number): unknown;
declare function clearTimeout(id: unknown): void;
declare function atob(data: string): string;

interface TextDecodeOptions {
  stream?: boolean;
}
interface TextDecoderOptions {
  fatal?: boolean;
  ignoreBOM?: boolean;
}
declare class TextDecoder {
  constructor(label?: string, options?: TextDecoderOptions);
  readonly encoding: string;
  decode(input?: ArrayBufferView | ArrayBuffer, options?: TextDecodeOptions): string;
}
declare class TextEncoder {
  readonly encoding: string;
  encode(input?: string): Uint8Array;
}
