-- The tables docker_auth's xorm backends (xorm_auth, acl_xorm) create in MySQL/MariaDB, as
-- xorm's Sync2 makes them from its models; regauth reads them as they are.
-- Create them with `regauth db init CONFIG`, or run this file yourself.

-- Users: one row per account. password_hash is a bcrypt hash (htpasswd -nB, regauth hash);
-- labels is a JSON object of lists, e.g. {"group": ["dev", "ops"]}. When a username appears
-- twice, the row with the highest id is used (as docker_auth does).
CREATE TABLE IF NOT EXISTS `xorm_user` (
  `id` BIGINT(20) PRIMARY KEY AUTO_INCREMENT NOT NULL,
  `username` VARCHAR(128) NOT NULL,
  `password_hash` VARCHAR(128) NOT NULL,
  `labels` TEXT NULL
);

-- ACL entries, applied in seq order (first match wins). acl_entry is the entry as JSON:
-- {"match": {"account": "/.+/", "name": "${account}/*"}, "actions": ["*"], "comment": "..."}
-- (Go writes {"Match": ..., "Actions": ..., "Comment": ...}; both spellings are read.)
CREATE TABLE IF NOT EXISTS `xorm_acl_entry` (
  `acl_entry` TEXT NULL,
  `seq` BIGINT(20) NULL
);
