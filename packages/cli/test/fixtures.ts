/**
 * Fixtures shared by the CLI's unit tests: `run`'s flags as the command line gives them, with its
 * defaults (lease `nightly`, CMD `true`).
 */
import { Option } from "effect"
import type * as RunOptions from "../src/internal/RunOptions.ts"

/** `run nightly -- true` with every default, but for `overrides`. */
export const runFlags = (overrides: Partial<RunOptions.RunFlags> = {}): RunOptions.RunFlags => ({
  name: "nightly",
  command: ["true"],
  duration: "20s",
  wait: false,
  try: false,
  timeout: Option.none(),
  grace: Option.none(),
  holder: Option.none(),
  conflictExitCode: 75,
  ...overrides
})
