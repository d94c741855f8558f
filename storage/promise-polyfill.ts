// Node 20 lacks Promise.withResolvers (ES2024), which libp2p calls. This module patches the `Promise`
// of the realm it is evaluated in, so it must be imported by a module of that realm before libp2p
// runs: storage/ipfs.ts imports it statically, which also covers jest's VM context (each test file's
// modules, libp2p included, share that context's `Promise`). Importing it twice is harmless.

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

type PromiseWithResolvers = PromiseConstructor & { withResolvers?: <T>() => Resolvers<T> };

const P = Promise as PromiseWithResolvers;

if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(P, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    // `this` keeps subclass semantics like the native one (new this(executor)).
    value: function withResolvers<T>(this: PromiseConstructor): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve'];
      let reject!: Resolvers<T>['reject'];
      const promise = new this<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

export {};
