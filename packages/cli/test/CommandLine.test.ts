/**
 * `CommandLine.prepare` on leasekit's real command tree and rules (`RootCommand.ts`): global flags
 * before the subcommand are moved behind it; `run`'s CMD must follow `--`, read the way
 * effect/cli's own lexer and parser read flags and their values.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as CommandLine from "../src/internal/CommandLine.ts"
import * as ExitCode from "../src/internal/ExitCode.ts"
import { leasekit, rules } from "../src/commands/RootCommand.ts"

const prepare = (...argv: Array<string>) => CommandLine.prepare(argv, leasekit, rules)

const accepted = (...argv: Array<string>): ReadonlyArray<string> => {
  const result = prepare(...argv)
  assert.isTrue(Result.isSuccess(result), `${argv.join(" ")}: ${Result.isFailure(result) ? result.failure.message : ""}`)
  return (result as Result.Success<ReadonlyArray<string>, never>).success
}

const refused = (...argv: Array<string>): ExitCode.CliExit => {
  const result = prepare(...argv)
  assert.isTrue(Result.isFailure(result), `${argv.join(" ")} should be refused`)
  const exit = (result as Result.Failure<never, ExitCode.CliExit>).failure
  assert.strictEqual(exit.code, ExitCode.codes.usage)
  return exit
}

describe("CommandLine: global flags before the subcommand", () => {
  it("are moved behind the command path, with their values, in every spelling", () => {
    assert.deepStrictEqual(accepted("--kubeconfig", "K", "status", "N"), ["status", "--kubeconfig", "K", "N"])
    assert.deepStrictEqual(
      accepted("--kubeconfig=K", "--context", "c", "-n", "jobs", "--verbose", "list", "-A"),
      ["list", "--kubeconfig=K", "--context", "c", "-n", "jobs", "--verbose", "-A"]
    )
    assert.deepStrictEqual(accepted("--namespace", "jobs", "release", "N", "--force"), ["release", "--namespace", "jobs", "N", "--force"])
    assert.deepStrictEqual(accepted("--verbose", "control-plane", "start"), ["control-plane", "start", "--verbose"])
    assert.deepStrictEqual(accepted("--context", "run", "run", "N", "--", "true"), ["run", "--context", "run", "N", "--", "true"], "a value that names a subcommand is a value")
  })

  it("leave the line alone when something else comes first or no command is reached", () => {
    assert.deepStrictEqual(accepted("--help"), ["--help"])
    assert.deepStrictEqual(accepted("--verbose", "--help", "status"), ["--verbose", "--help", "status"])
    assert.deepStrictEqual(accepted("--kubeconfig", "K", "bogus", "N"), ["--kubeconfig", "K", "bogus", "N"])
    assert.deepStrictEqual(accepted("--kubeconfig", "K"), ["--kubeconfig", "K"])
    assert.deepStrictEqual(accepted("status", "N", "--kubeconfig", "K"), ["status", "N", "--kubeconfig", "K"])
  })
})

describe("CommandLine: run's CMD follows --", () => {
  it("accepts flags before and after NAME, and anything after --", () => {
    for (
      const argv of [
        ["run", "N", "--", "echo", "-n", "hi"],
        ["run", "--try", "N", "--", "printf", "x", "--help"],
        ["run", "N", "--try", "--timeout", "5m", "--", "./job", "--", "x"],
        ["run", "-n", "jobs", "N", "--holder=me", "--", "true"],
        ["run", "N", "--try", "true", "--", "job"],
        ["run", "N", "--conflict-exit-code", "-1", "--", "job"],
        ["run", "N", "--no-try", "--", "job"],
        ["run", "N"],
        ["run", "N", "--"],
        ["run", "--help"],
        ["run", "N", "--help"]
      ]
    ) assert.deepStrictEqual(accepted(...argv), argv)
  })

  it("refuses words after NAME that are not leasekit's, naming the fix: the same line with --", () => {
    const echo = refused("run", "N", "echo", "-n", "hi")
    assert.include(echo.problem, "the command must follow `--`: found \"echo\" after NAME \"N\"")
    assert.strictEqual(echo.fix, "leasekit run N -- echo -n hi")
    assert.strictEqual(refused("run", "N", "printf", "x", "--help").fix, "leasekit run N -- printf x --help")
    assert.strictEqual(refused("run", "--try", "N", "sh", "-c", "echo $HOME; exit 3").fix, "leasekit run --try N -- sh -c 'echo $HOME; exit 3'")
    assert.strictEqual(refused("run", "N", "--timeout", "5m", "./job", "--", "x").fix, "leasekit run N --timeout 5m -- ./job -- x")
    assert.strictEqual(refused("--verbose", "run", "N", "true").fix, "leasekit run --verbose N -- true", "after the global flags moved")
    assert.strictEqual(refused("run", "N", "it's").fix, "leasekit run N -- 'it'\\''s'")
  })

  it("reads a boolean literal after a boolean flag as its value, as effect/cli does, and a value flag's value as a value", () => {
    assert.strictEqual(refused("run", "N", "--try", "true", "job").fix, "leasekit run N --try true -- job")
    assert.strictEqual(refused("run", "N", "--holder", "h", "job").fix, "leasekit run N --holder h -- job")
    assert.strictEqual(refused("run", "-n", "jobs", "N", "job").fix, "leasekit run -n jobs N -- job")
  })

  it("refuses -- with no NAME before it, and an empty program name after it", () => {
    const noName = refused("run", "--", "./job.sh")
    assert.include(noName.problem, "no NAME before `--`")
    assert.include(noName.fix, "leasekit run NAME -- ./job.sh")
    assert.include(refused("run", "N", "--", "").problem, "the command after `--` is empty")
    assert.include(refused("run", "N", "--", "", "x").problem, "empty")
  })

  it("leaves a line with a flag it does not know to effect/cli, which names the flag", () => {
    assert.deepStrictEqual(accepted("run", "N", "--bogus", "echo"), ["run", "N", "--bogus", "echo"])
  })

  it("knows every flag run declares, so none is taken for CMD", () => {
    const spellings = CommandLine.spellings(rules.trailing[0]!.flags)
    for (const flag of ["--duration", "--wait", "--try", "--timeout", "--grace", "--holder", "--conflict-exit-code", "--health-port", "--health-host", "--kubeconfig", "--context", "--verbose", "-n", "--namespace", "--help", "-h", "--version"]) {
      assert.isTrue(spellings.has(flag), flag)
    }
    assert.strictEqual(spellings.get("--duration"), "value")
    assert.strictEqual(spellings.get("--try"), "boolean")
  })
})
