// Runs in each test worker before its tests: gdb, spawned by the worker, attaches to the worker itself.
// Where Yama's ptrace_scope is 1 that needs PR_SET_PTRACER_ANY; where Yama is absent this is a no-op.
import * as Effect from "effect/Effect"
import { enableTracing } from "../src/Tracer.js"

await Effect.runPromise(Effect.ignore(enableTracing))
