DROP INDEX contact_undos_user;
DROP TABLE contact_undos;
DROP TABLE account_codes;
