// What ../chat/test/support/global-setup.ts provides to test files (declared there for the service's own program).
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
  }
}
