-- An account is also known from its first custom provider on: its custom-provider list then
-- answers an empty page after the last one is deleted, and an account never seen answers 404,
-- as its gateway list does.
CREATE TRIGGER custom_providers_account AFTER INSERT ON custom_providers
BEGIN
    INSERT OR IGNORE INTO accounts (id) VALUES (NEW.account_id);
END;

INSERT OR IGNORE INTO accounts (id) SELECT DISTINCT account_id FROM custom_providers;
