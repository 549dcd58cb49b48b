/**
 * The Node platform services the `live` layers provide: `NodeFileSystem` and
 * the `node:http`-based `NodeHttpClient` (Node 20's `fetch` buffers a
 * streamed request body whole, so the fetch client would hold a snapshot in
 * memory). Loaded when the layer is built, from deep paths (the barrel costs
 * 0.7 s; see ARCHITECTURE.md, pitfall 10).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Services } from "./file.js"

export type { Services } from "./file.js"

/** The platform services, loaded lazily. */
export const platform: Layer.Layer<Services> = Layer.unwrapEffect(
  Effect.promise(async () => {
    const [NodeFileSystem, NodeHttpClient] = await Promise.all([
      import("@effect/platform-node/NodeFileSystem"),
      import("@effect/platform-node/NodeHttpClient")
    ])
    return Layer.merge(NodeFileSystem.layer, NodeHttpClient.layer)
  })
)

/**
 * `layer` with the platform provided when `options` turn uploads on; without
 * uploads nothing is loaded.
 */
export const live = <O extends { readonly put?: unknown }, A, E>(
  options: O,
  layer: (options: O) => Layer.Layer<A, E, Services>
): Layer.Layer<A, E> =>
  // Without uploads the layer reads no platform service: nothing is loaded.
  options.put === undefined ? layer(options) as Layer.Layer<A, E> : Layer.provide(layer(options), platform)
