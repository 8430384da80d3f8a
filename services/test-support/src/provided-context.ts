// What the global setup provides to every test file through vitest's inject().
declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL of the test PostgreSQL server. */
    adminUrl: string;
    /** A migrated database that test files clone. */
    templateDatabase: string;
    /** With TEST_BUS=nats: the run's nats-server; instances use the NATS bus. */
    natsUrl?: string;
  }
}

export {};
