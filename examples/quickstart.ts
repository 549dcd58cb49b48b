import { Effect } from "effect"
import { EuStackLive, Tracer } from "effect-bcd"

const chargeCard = Effect.fail(new Error("payment declined"))

const program = Effect.gen(function*() {
  yield* Effect.ignore(Tracer.enableTracing) // lets eu-stack attach where Yama's ptrace_scope is 1 (Ubuntu)
  yield* chargeCard.pipe(Effect.tapError((err) => Tracer.trace(err)), Effect.ignore)
  yield* Effect.die(new TypeError("cart.items is undefined"))
}).pipe(Effect.catchAllDefect(Tracer.recover))

Effect.runPromise(program.pipe(Effect.provide(EuStackLive)))
