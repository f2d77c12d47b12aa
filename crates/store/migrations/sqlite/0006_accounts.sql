-- Accounts that have ever had a gateway. An account stays known after its last gateway is
-- deleted, so its gateway list answers an empty page rather than "account not found".
CREATE TABLE accounts (
    id TEXT PRIMARY KEY
);

CREATE TRIGGER gateways_account AFTER INSERT ON gateways
BEGIN
    INSERT OR IGNORE INTO accounts (id) VALUES (NEW.account_id);
END;

-- After the trigger: a gateway another replica creates meanwhile is counted either way.
INSERT OR IGNORE INTO accounts (id) SELECT DISTINCT account_id FROM gateways;
