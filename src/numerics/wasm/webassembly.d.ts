/**
 * The few WebAssembly JS-API types the wasm backend uses. TypeScript ships them only in lib.dom, which this project
 * does not load (Node 20's @types/node does not declare them either).
 */
declare namespace WebAssembly {
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    grow(delta: number): number;
  }
  class Module {
    constructor(bytes: ArrayBufferView | ArrayBuffer);
  }
  type Imports = Record<string, Record<string, unknown>>;
  /** Whether `bytes` is a valid module for this engine (features behind flags count only when enabled). */
  function validate(bytes: ArrayBufferView | ArrayBuffer): boolean;
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Record<string, unknown>;
  }
}
