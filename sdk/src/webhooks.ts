// For tenants' Node backends that receive imcloud webhooks: verify a request before trusting it
// (docs/webhooks.md). Node only (node:crypto); not part of the browser entry point (index.ts).
export {
  signWebhook,
  type VerifyWebhookInput,
  verifyWebhook,
  WEBHOOK_HEADERS,
  WEBHOOK_TOLERANCE_MS,
  type WebhookCheck,
} from '../../protocol/webhook-signature.js';
