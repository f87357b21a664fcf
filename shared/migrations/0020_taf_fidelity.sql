-- TAF as the real WSTAFST2 server stores it: `complement` (TAFCOMP, the
-- S-1200/S-1210 multiple-link mode) is kept with the record, and a pending
-- registryKey refuses another (813) only when it is an XML record of the
-- same sourceBranch and registryType: the parts of a TXT message share
-- their registryKey, and a key may be pending in several branches.
ALTER TABLE taf_record ADD COLUMN complement text;
DROP INDEX taf_record_open_key;
CREATE UNIQUE INDEX taf_record_open_xml ON taf_record (source_branch, registry_type, registry_key)
    WHERE message_type = 2 AND status IN ('pending', 'waiting');
