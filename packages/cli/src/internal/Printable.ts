/**
 * Untrusted text made safe to print on a terminal: what leasekit shows from a Lease (holder
 * identity, names, namespaces) or from an API server's answer is written by someone else, and a
 * holder identity such as `"x\u001b[2J"` or `"x\nState: free"` would otherwise clear the screen or
 * forge a line of `status` output.
 *
 * `printable` escapes, visibly and reversibly: C0 controls (U+0000–U+001F: `\n`, `\r`, `\t`, else
 * `\xNN`; ESC is `\x1b`, so an escape sequence loses its introducer and prints as text), DEL
 * (`\x7f`), C1 controls (U+0080–U+009F, `\x9b` for the one-character CSI), the Unicode line and
 * paragraph separators (U+2028, U+2029) and the bidirectional formatting characters (U+061C,
 * U+200E, U+200F, U+202A–U+202E, U+2066–U+2069, which reorder what follows them on the line) as
 * `\u{NNNN}`, and the backslash itself as `\\` — so an escape in the output always stands for
 * one character of the input.
 *
 * Guarantees: the result contains none of the characters above unescaped, so it stays on the line
 * it is printed on and cannot move the cursor or change the terminal's state; text without them
 * (and without backslashes) is returned unchanged. Does not: make text unambiguous in other ways
 * (quotes, lookalike letters, very long values are printed as they are), or apply to JSON output —
 * `JSON.stringify` escapes what JSON requires and the reader decodes it.
 *
 * @since 0.1.0
 */

const unsafe = /[\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const named: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" }

const escapeOne = (char: string): string => {
  const known = named[char]
  if (known !== undefined) return known
  const code = char.codePointAt(0)!
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16).padStart(4, "0")}}`
}

/**
 * `text` with control, line-separating and bidirectional characters (and backslashes) escaped.
 *
 * @since 0.1.0
 * @category rendering
 */
export const printable = (text: string): string => text.replace(unsafe, escapeOne)
