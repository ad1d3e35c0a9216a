// ESLint (flat config) with typescript-eslint's type-aware rules (issue 18, "Lint"): floating and
// misused promises, the no-unsafe-* family (an `any` that leaks from JSON.parse, a message or a
// catch), await of a non-thenable. `npm run lint` runs it with --max-warnings 0, and `npm test`
// runs that right after the typecheck.
//
// The TypeScript of src/, media/ and test/ is linted with type information: the project service
// picks for each file the nearest tsconfig.json that includes it (tsconfig.json for src/, test/,
// vitest.config.ts; media/tsconfig.json, with the DOM, for the webview). The JavaScript of
// scripts/ and the test harnesses is untyped, so there only the rules that need no types run.
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["dist/**", "out/**", "node_modules/**", "test-results/**", ".e2e/**", ".vscode-test/**", "**/*.d.ts"],
  },
  {
    files: ["src/**/*.ts", "media/**/*.ts", "test/**/*.ts", "vitest.config.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    files: ["scripts/**/*.mjs", "test/**/*.mjs", "test/**/*.cjs", "test/**/*.js"],
    extends: [tseslint.configs.recommended],
  },
);
