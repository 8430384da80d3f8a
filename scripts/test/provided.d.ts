// What the service's vitest globalSetup (services/chat/test/support/global-setup.ts) provides.
declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
  }
}
export {};
