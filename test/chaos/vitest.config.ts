/**
 * Runs the chaos project on its own until the root config has it: the same entry as the one
 * proposed for the root `vitest.config.ts`.
 *
 *   node_modules/.bin/vitest run --root . --config test/chaos/vitest.config.ts
 */
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "chaos",
          include: ["test/chaos/**/*.test.ts"],
          testTimeout: 900_000,
          hookTimeout: 180_000,
          fileParallelism: false
        }
      }
    ]
  }
})
