-- app.read takes the statement's name beside its text, so a caller sends the text only once per
-- connection (db/sql/functions/read.sql; docs/decisions/016-reads-send-their-text-once.md).
-- The new signature is created from the function files after the migrations; the old one goes.
DROP FUNCTION IF EXISTS app.read(uuid, uuid, integer, uuid, text, text, text[]);
