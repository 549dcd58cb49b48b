/** TracerConfig layers shared by the tests. */
import * as TracerConfig from "../../src/TracerConfig.js"

/**
 * No cooldown between traces (`rateLimit` 0); every other setting keeps its
 * default. For tests (and fixtures) that trace more than once and mean
 * nothing more. A test that also sets other fields writes its own
 * `TracerConfig.layer({ rateLimit: 0, ... })`: a later layer replaces the
 * settings whole, it does not merge.
 */
export const noCooldown = TracerConfig.layer({ rateLimit: 0 })
