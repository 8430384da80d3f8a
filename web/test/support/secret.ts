/** The session secret the storefront and the chat service share in the browser tests. */
export const TEST_SECRET = 'web-test-secret-0123456789abcdef0123456789abcdef';
