/**
 * effect-bcd: snapshots of this Node.js process by an out-of-process tracer
 * (Backtrace's ptrace, gdb, or eu-stack) on errors, defects and signals.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Tracer from "./Tracer.js"
/** @since 0.1.0 */
export * as TracerConfig from "./TracerConfig.js"
/** @since 0.1.0 */
export * as TraceOptions from "./TraceOptions.js"
/** @since 0.1.0 */
export * as TracerBackend from "./TracerBackend.js"
/** @since 0.1.0 */
export * as TraceError from "./TraceError.js"
/** @since 0.1.0 */
export * as TraceMetrics from "./TraceMetrics.js"
/** @since 0.1.0 */
export * as Backtrace from "./Backtrace.js"
/**
 * The Backtrace backend with its defaults and the Node platform services:
 * `program.pipe(Effect.provide(BacktraceLive))`.
 *
 * @since 0.1.0
 */
export { BacktraceLive } from "./Backtrace.js"
/** @since 0.1.0 */
export * as Gdb from "./Gdb.js"
/**
 * The gdb backend with its defaults: `program.pipe(Effect.provide(GdbLive))`.
 *
 * @since 0.1.0
 */
export { GdbLive } from "./Gdb.js"
/** @since 0.1.0 */
export * as EuStack from "./EuStack.js"
/**
 * The eu-stack backend with its defaults: `program.pipe(Effect.provide(EuStackLive))`.
 *
 * @since 0.1.0
 */
export { EuStackLive } from "./EuStack.js"
