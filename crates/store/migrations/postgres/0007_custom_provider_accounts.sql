-- An account is also known from its first custom provider on: its custom-provider list then
-- answers an empty page after the last one is deleted, and an account never seen answers 404,
-- as its gateway list does. (The function of 0006 inserts NEW.account_id, which this table
-- has too.)
CREATE TRIGGER custom_providers_account AFTER INSERT ON custom_providers
    FOR EACH ROW EXECUTE FUNCTION gateways_account();

INSERT INTO accounts (id) SELECT DISTINCT account_id FROM custom_providers ON CONFLICT DO NOTHING;
