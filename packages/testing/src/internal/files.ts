/**
 * Looking at files before using them: is it a regular file we may read, or execute? Answers
 * `false` for anything missing, unreadable or not a regular file; never throws.
 *
 * @internal
 */
import * as Fs from "node:fs"

const is = (file: string, mode: number): boolean => {
  try {
    Fs.accessSync(file, mode)
    return Fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** A regular file this process may execute. @internal */
export const isExecutable = (file: string): boolean => is(file, Fs.constants.X_OK)

/** A regular file this process may read. @internal */
export const isReadable = (file: string): boolean => is(file, Fs.constants.R_OK)
