-- Extra headers sent to a custom provider (Cloudflare's `headers`): a JSON object, sealed by
-- the server (its values may be credentials), so the store holds only the ciphertext.
ALTER TABLE custom_providers ADD COLUMN headers_sealed BLOB;
