// ESLint for the browser app (frontend/): the recommended JavaScript and
// type-aware TypeScript rules. Formatting is Prettier's job, not ESLint's.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["frontend/dist/**", "frontend/vite.config.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ["frontend/src/**/*.ts"],
    languageOptions: {
      globals: globals.browser,
      parserOptions: { project: "frontend/tsconfig.json", tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Unused names are an error, except a deliberately ignored `_name`.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
);
