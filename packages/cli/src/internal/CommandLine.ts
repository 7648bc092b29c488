/**
 * How `leasekit` reads its command line before effect/cli parses it: two rules of a command-line
 * tool that effect/cli does not have.
 *
 * 1. Global flags may come before the subcommand. `--kubeconfig`, `--context`, `-n/--namespace`
 *    and `--verbose` (every leaf command declares them) are accepted in front of the command path
 *    and moved behind it: `leasekit --kubeconfig K -n jobs status NAME` is read as
 *    `leasekit status --kubeconfig K -n jobs NAME`. Anything else in front of the path leaves the
 *    command line as it is (effect/cli then reports it).
 * 2. A command's own command line follows `--`. For `run NAME -- CMD [ARGS…]`, every word after
 *    NAME that is not one of `run`'s flags (or their values) must follow `--`: without it,
 *    `run N echo -n hi` would read `-n hi` as leasekit's namespace, and `run N printf x --help`
 *    would print leasekit's help and run nothing. Such a line is a usage error (exit 64) whose fix
 *    is the same line with `--` in place. So is a `--` with no NAME before it, and an empty program
 *    name after it (`run N -- ''`). Everything after the first `--` is CMD's, untouched: effect/cli
 *    itself never reads flags there.
 *
 * Which words are flags, and which flags take a value, is read from the flags' own declarations
 * (effect/cli's public `Param` structure), the way effect/cli's lexer and parser read them: `--x=v`
 * and `-x=v` carry their value, `-abc` is three short flags, a non-boolean flag takes the next word
 * unless it looks like a flag (a negative number does not), a boolean flag takes a following
 * `true/false/yes/no/on/off/y/n/1/0`, `--no-x` negates a boolean.
 *
 * Guarantees: a command line this module changes means, to effect/cli, what the user meant by it;
 * one it rejects never reaches a command (nothing is read or written); words after `--` are never
 * looked at except CMD's first. Does not: validate flags or values (effect/cli does, naming them);
 * look inside a line whose words before `--` include a flag it does not know (effect/cli reports
 * that flag instead).
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import type * as Flag from "effect/cli/Flag"
import * as Param from "effect/cli/Param"
import * as Primitive from "effect/cli/Primitive"
import * as ExitCode from "./ExitCode.ts"

/**
 * What is needed of a command: its name, alias and subcommands (effect/cli's `Command` is one).
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandTree {
  readonly name: string
  readonly alias?: string | undefined
  readonly subcommands: ReadonlyArray<{ readonly commands: ReadonlyArray<CommandTree> }>
}

/**
 * A command whose trailing command line must follow `--`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TrailingCommand {
  /** The command path below the root, e.g. `["run"]`. */
  readonly path: ReadonlyArray<string>
  /** Every flag the command accepts (its own, the global ones and effect/cli's built-ins). */
  readonly flags: ReadonlyArray<Flag.Flag<unknown>>
  /** How its positional arguments before `--` are shown, e.g. `["NAME"]`. */
  readonly operands: ReadonlyArray<string>
  /** What follows `--`, for messages, e.g. `CMD [ARGS…]`. */
  readonly trailing: string
}

/**
 * The rules `prepare` applies.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rules {
  /** Flags accepted before the command path, moved behind it. */
  readonly global: ReadonlyArray<Flag.Flag<unknown>>
  readonly trailing: ReadonlyArray<TrailingCommand>
}

/**
 * What a flag takes after it: the next word (`value`), a boolean literal if one follows
 * (`boolean`), or nothing.
 *
 * @since 0.1.0
 * @category models
 */
export type Arity = "value" | "boolean" | "none"

/**
 * Every spelling (`--name`, `-n`, `--no-name`) of `flags`, with what each takes.
 *
 * @since 0.1.0
 * @category parsing
 */
export const spellings = (flags: ReadonlyArray<Flag.Flag<unknown>>): ReadonlyMap<string, Arity> => {
  const map = new Map<string, Arity>()
  const visit = (param: Param.Param<"flag", unknown>): void => {
    if (Param.isSingle(param)) {
      const boolean = Primitive.getTypeName(param.primitiveType) === "boolean"
      const arity: Arity = param.optionalValue !== undefined ? "none" : boolean ? "boolean" : "value"
      for (const name of [param.name, ...param.aliases]) {
        map.set(`--${name}`, arity)
        if (name.length === 1) map.set(`-${name}`, arity)
      }
      if (boolean && param.negation !== false) map.set(`--${param.negation ?? `no-${param.name}`}`, "none")
      return
    }
    const inner = (param as unknown as { readonly param?: Param.Param<"flag", unknown> }).param
    if (inner !== undefined) visit(inner)
  }
  for (const flag of flags) visit(flag)
  return map
}

const negativeNumber = /^-(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const booleanLiterals = new Set(["true", "yes", "on", "1", "y", "false", "no", "off", "0", "n"])

/** Whether effect/cli's lexer reads `word` as a value (not a flag). */
const isValue = (word: string): boolean => !word.startsWith("-") || word === "-" || negativeNumber.test(word)

/**
 * How many words the flag occurrence at `argv[i]` spans (1, or 2 with its value), or undefined
 * when `argv[i]` is a flag `known` does not declare.
 */
const flagSpan = (argv: ReadonlyArray<string>, i: number, known: ReadonlyMap<string, Arity>): number | undefined => {
  const word = argv[i]!
  let spellings: Array<string>
  let inline: boolean
  if (word.startsWith("--")) {
    const eq = word.indexOf("=")
    spellings = [eq === -1 ? word : word.slice(0, eq)]
    inline = eq !== -1
  } else {
    const eq = word.indexOf("=")
    const chars = Array.from(eq === -1 ? word.slice(1) : word.slice(1, eq))
    spellings = chars.map((c) => `-${c}`)
    inline = eq !== -1
  }
  const arities = spellings.map((s) => known.get(s))
  if (arities.some((a) => a === undefined)) return undefined
  const last = arities.at(-1)!
  if (inline) return 1
  const next = argv[i + 1]
  if (next === undefined || next === "--") return 1
  if (last === "value") return isValue(next) ? 2 : 1
  if (last === "boolean") return booleanLiterals.has(next) ? 2 : 1
  return 1
}

const findCommand = (command: CommandTree, word: string): CommandTree | undefined => {
  for (const group of command.subcommands) {
    for (const sub of group.commands) if (sub.name === word || sub.alias === word) return sub
  }
  return undefined
}

/**
 * Moves global flags found before the command path (rule 1) behind it; returns the path walked
 * (command names, also where an alias was typed).
 */
const hoist = (
  argv: ReadonlyArray<string>,
  root: CommandTree,
  global: ReadonlyMap<string, Arity>
): { readonly args: ReadonlyArray<string>; readonly path: ReadonlyArray<string> } => {
  const words: Array<string> = []
  const path: Array<string> = []
  const moved: Array<string> = []
  let command = root
  for (let i = 0; i < argv.length;) {
    const word = argv[i]!
    if (word === "--") break
    if (isValue(word)) {
      const sub = findCommand(command, word)
      if (sub === undefined) break
      words.push(word)
      path.push(sub.name)
      command = sub
      i++
      if (sub.subcommands.length === 0) return { args: [...words, ...moved, ...argv.slice(i)], path }
      continue
    }
    const span = flagSpan(argv, i, global)
    if (span === undefined) break
    moved.push(...argv.slice(i, i + span))
    i += span
  }
  // No leaf command reached (or something else in front of it): effect/cli reads the line as given.
  return { args: argv, path: [] }
}

/** A word as a POSIX shell reads it back. */
const shellWord = (word: string): string => /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`

const commandLine = (words: ReadonlyArray<string>) => ["leasekit", ...words].map(shellWord).join(" ")

/** Checks rule 2 for `spec`, on `args` (the whole line, the command path at `args[0..depth)`). */
const checkTrailing = (
  args: ReadonlyArray<string>,
  spec: TrailingCommand,
  known: ReadonlyMap<string, Arity>
): Result.Result<ReadonlyArray<string>, ExitCode.CliExit> => {
  const depth = spec.path.length
  const usage = `${commandLine(spec.path)} ${spec.operands.join(" ")} [flags] -- ${spec.trailing}`
  const operands: Array<string> = []
  for (let i = depth; i < args.length;) {
    const word = args[i]!
    if (word === "--") {
      if (operands.length < spec.operands.length) {
        return Result.fail(
          ExitCode.usage(
            `no ${spec.operands.slice(operands.length).join(" ")} before \`--\``,
            `${usage}; e.g. ${commandLine([...args.slice(0, i), ...spec.operands.slice(operands.length), ...args.slice(i)])}`
          )
        )
      }
      if (args[i + 1] === "") {
        return Result.fail(
          ExitCode.usage("the command after `--` is empty (\"\")", `name the program to run after \`--\`: ${usage}`)
        )
      }
      return Result.succeed(args)
    }
    if (isValue(word)) {
      if (operands.length === spec.operands.length) {
        const fixed = [...args.slice(0, i), "--", ...args.slice(i)]
        return Result.fail(
          ExitCode.usage(
            `the command must follow \`--\`: found ${JSON.stringify(word)} after ${spec.operands.join(" ")} ${
              operands.map((o) => JSON.stringify(o)).join(" ")
            } (without \`--\` its own flags would be read as leasekit's)`,
            commandLine(fixed)
          )
        )
      }
      operands.push(word)
      i++
      continue
    }
    const span = flagSpan(args, i, known)
    if (span === undefined) return Result.succeed(args) // effect/cli names the unknown flag
    i += span
  }
  return Result.succeed(args) // no `--` and no command: the command itself says what is missing
}

/**
 * The command line effect/cli should parse (the arguments after the program name), or the usage
 * error it is.
 *
 * @since 0.1.0
 * @category constructors
 */
export const prepare = (
  argv: ReadonlyArray<string>,
  root: CommandTree,
  rules: Rules
): Result.Result<ReadonlyArray<string>, ExitCode.CliExit> => {
  const { args, path } = hoist(argv, root, spellings(rules.global))
  const spec = rules.trailing.find((t) => t.path.length === path.length && t.path.every((p, i) => path[i] === p))
  return spec === undefined ? Result.succeed(args) : checkTrailing(args, spec, spellings(spec.flags))
}
