-- Accounts that have ever had a gateway. An account stays known after its last gateway is
-- deleted, so its gateway list answers an empty page rather than "account not found".
CREATE TABLE accounts (
    id TEXT COLLATE "C" PRIMARY KEY
);

CREATE FUNCTION gateways_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO accounts (id) VALUES (NEW.account_id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER gateways_account AFTER INSERT ON gateways
    FOR EACH ROW EXECUTE FUNCTION gateways_account();

-- After the trigger: a gateway another replica creates meanwhile is counted either way.
INSERT INTO accounts (id) SELECT DISTINCT account_id FROM gateways ON CONFLICT DO NOTHING;
