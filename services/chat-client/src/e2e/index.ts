/** End-to-end encrypted direct conversations (docs/e2e.md): keys, sealing, opening, trust, and the wiring to the client. */
export { IndexedDbKeyStore, MemoryKeyStore, defaultKeyStore, type KeyStore } from './key-store.ts';
export { Device, forgetDevice, KEY_RETENTION_MS, loadOrCreateDevice, ROTATE_AFTER_MS, type DeviceOptions } from './device.ts';
export { verifyBundle } from './bundle.ts';
export { seal, type SealHeader } from './seal.ts';
export { open, type OpenExpected, type OpenFailure, type OpenResult, type PinnedSenderDevices } from './open.ts';
export { ReplayGuard, type ReplayKey } from './replay-guard.ts';
export { decryptAttachment, encryptAttachment } from './attachments.ts';
export { TrustStore, type KeyChange, type PinnedDevice } from './trust-store.ts';
export { safetyNumber, type SafetyDevice } from './safety-number.ts';
export { KeyDirectory } from './key-directory.ts';
export { isKeysChanged, openMessage, sealForConversation, sendEncrypted, type E2EContext, type EncryptedSend } from './encrypted-messages.ts';
export { E2EError, type E2EErrorCode } from './e2e-error.ts';
