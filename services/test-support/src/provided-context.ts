// What the global setup provides to every test file through vitest's inject().
declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL of the test PostgreSQL server. */
    adminUrl: string;
    /** A migrated database that test files clone. */
    templateDatabase: string;
  }
}

export {};
