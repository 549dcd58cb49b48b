/**
 * The Node platform service the `live` layers provide: `NodeFileSystem`
 * (uploads themselves go over `node:http`, see `transport.ts`). Loaded when
 * the layer is built, from a deep path (the barrel costs 0.7 s; see
 * ARCHITECTURE.md, pitfall 10).
 *
 * `@effect/platform-node` is an optional peer dependency: only uploads need
 * it. When it cannot be loaded, building the layer fails with a
 * `TracerConfigError` on `put` that names the package, as a missing tracer
 * binary fails it on `tracerPath`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { TracerConfigError } from "../../TraceError.js"
import type { Services } from "./file.js"

export type { Services } from "./file.js"

/** The package the `live` layers load for uploads. */
export const PACKAGE = "@effect/platform-node"

const missing = (cause: unknown) =>
  new TracerConfigError({
    field: "put",
    reason: `uploads need the optional peer dependency ${PACKAGE}, which could not be loaded ` +
      `(${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)}). Install the version that ` +
      `matches your @effect/platform (npm i ${PACKAGE}@0.108 for @effect/platform 0.97), or use layer() ` +
      `and provide FileSystem yourself`,
    cause
  })

/** The platform services, loaded lazily. */
export const platform: Layer.Layer<Services, TracerConfigError> = Layer.unwrapEffect(
  Effect.tryPromise({
    try: async () => {
      const NodeFileSystem = await import("@effect/platform-node/NodeFileSystem")
      return NodeFileSystem.layer
    },
    catch: missing
  })
)

/**
 * `layer` with the platform provided when `options` turn uploads on; without
 * uploads nothing is loaded.
 */
export const live = <O extends { readonly put?: unknown }, A, E>(
  options: O,
  layer: (options: O) => Layer.Layer<A, E, Services>
): Layer.Layer<A, E | TracerConfigError> =>
  // Without uploads the layer reads no platform service: nothing is loaded.
  options.put === undefined ? layer(options) as Layer.Layer<A, E> : Layer.provide(layer(options), platform)
