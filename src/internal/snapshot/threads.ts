/**
 * What each thread of a Node process is, read off its native frames as gdb
 * or eu-stack prints them: Node names all its threads `node`, so the roles
 * come from the functions on their stacks.
 *
 * @internal
 */

/** The role of a thread, read off its frames (gdb's or eu-stack's text). */
export const threadRole = (lwp: number, pid: number, frames: string): string | undefined => {
  if (lwp === pid) return "main thread"
  if (/node::worker::Worker::(StartThread|Run)\b/.test(frames)) return "worker_threads Worker"
  if (isLibuvWorker(frames)) return "libuv threadpool"
  if (/PlatformWorkerThread/.test(frames)) return "V8 platform worker"
  if (/DelayedTaskScheduler/.test(frames)) return "V8 delayed-task scheduler"
  if (/inspector/i.test(frames)) return "inspector I/O"
  if (/SignalInspectorWakeup|StartIoThreadWakeup/.test(frames)) return "signal watcher"
  return undefined
}

/**
 * libuv's threadpool thread function, `worker` (threadpool.c). gdb prints
 * `worker (arg=…) at …/threadpool.c:76`, so it is told apart from other
 * `worker`s by the pool's wait or its source file. eu-stack prints the bare
 * symbol, `#9  0x… worker - /usr/bin/node`, idle or busy.
 */
const isLibuvWorker = (frames: string): boolean =>
  (/\bworker \(/.test(frames) && /uv_cond_wait|threadpool\.c/.test(frames)) ||
  /^#\d+\s+0x[0-9a-f]+ worker(?: - |$)/m.test(frames)

/** What labelling needs to know about the trace. */
export interface Context {
  readonly pid: number
  readonly tid: number | undefined
  readonly faulted: boolean
}

/** A thread's labels: its role, and `faulted` or `caller` for the calling thread. */
export const labels = (context: Context, lwp: number, frames: string): ReadonlyArray<string> => {
  const role = threadRole(lwp, context.pid, frames)
  const mark = lwp === context.tid ? (context.faulted ? "faulted" : "caller") : undefined
  return [role, mark].filter((l): l is string => l !== undefined)
}
