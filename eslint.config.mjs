// Lint and format, after Effect's own eslint.config.mjs (Effect-TS/effect, branch v3):
// eslint + typescript-eslint for the rules, and @effect/eslint-plugin's `@effect/dprint`
// rule for the formatting. dprint also sorts import declarations and named imports
// (its `module.sortImportDeclarations` default), which is how Effect keeps imports sorted.
// `npm run lint:fix` formats.
import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import { defineConfig } from "eslint/config"
import tseslint from "typescript-eslint"

export default defineConfig(
  { ignores: ["dist/", "docs/api/", "coverage/", "snapshots/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  effectEslint.configs.dprint,
  {
    files: ["**/*.{ts,mts,cts,js,mjs,cjs}"],
    linterOptions: { reportUnusedDisableDirectives: "error" },
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      // Only the plain .mjs files need these; in .ts files tsc checks names, and no-undef is off.
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        performance: "readonly"
      }
    },
    rules: {
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      // dprint sorts imports but does not merge two imports of one module.
      "no-duplicate-imports": ["error", { allowSeparateTypeImports: true }],
      "object-shorthand": "error",
      "no-unused-vars": "off", // the typescript-eslint rule below replaces it, .mjs files included
      // Effect.gen(function*() { … }) need not yield.
      "require-yield": "off",
      // Argv and gdb output are sanitised with regexes over control characters, on purpose.
      "no-control-regex": "off",
      "@typescript-eslint/array-type": ["error", { default: "generic", readonly: "generic" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Effect idioms, allowed as in Effect's config: `declare namespace X { … }` for related types,
      // and `interface Options extends BaseOptions {}`.
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off"
    }
  },
  {
    files: ["src/**/*.ts"],
    rules: {
      "no-console": "error",
      // A crash reporter is loaded at start-up: deep imports only, never the barrels (DESIGN.md, pitfall 10).
      "@typescript-eslint/no-restricted-imports": ["error", {
        paths: ["effect", "@effect/platform", "@effect/platform-node"].map((name) => ({
          name,
          allowTypeImports: true,
          message: `Import "${name}/<Module>": the barrel is slow to load.`
        }))
      }]
    }
  }
)
