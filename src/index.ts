/**
 * effect-bcd: snapshots of this Node.js process by an out-of-process tracer
 * (Backtrace's ptrace, gdb, or eu-stack) on errors, defects and signals.
 *
 * Each namespace below is one public module, also importable on its own
 * (`effect-bcd/Tracer`, …). The namespace exports carry no comment of their
 * own on purpose: a comment here would replace the module's overview (and its
 * examples) in the API reference, which typedoc takes from the module's first
 * comment, marked `@module`.
 *
 * @packageDocumentation
 * @since 0.1.0
 */

export * as Backtrace from "./Backtrace.js"
export * as TraceError from "./TraceError.js"
export * as TraceMetrics from "./TraceMetrics.js"
export * as TraceOptions from "./TraceOptions.js"
export * as Tracer from "./Tracer.js"
export * as TracerBackend from "./TracerBackend.js"
export * as TracerConfig from "./TracerConfig.js"
/**
 * The Backtrace backend with its defaults and the Node platform services:
 * `program.pipe(Effect.provide(BacktraceLive))`.
 *
 * @since 0.1.0
 */
export { BacktraceLive } from "./Backtrace.js"
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
